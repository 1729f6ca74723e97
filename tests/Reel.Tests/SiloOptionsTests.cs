using Microsoft.Extensions.Configuration;
using Reel.Hosting;

namespace Reel.Tests;

[Trait(Tier.Name, Tier.Fast)]
public class SiloOptionsTests
{
    [Fact]
    public void The_step_delay_test_hook_cannot_be_set_by_configuration()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Reel:StepDelay"] = "00:00:01", ["Reel:MaxSessions"] = "3" }).Build();
        var options = new ReelSiloOptions();
        configuration.GetSection("Reel").Bind(options);
        Assert.Equal(3, options.MaxSessions);
        Assert.Equal(TimeSpan.Zero, options.StepDelay);
        Assert.Equal(TimeSpan.FromSeconds(1), options.SlowStepsForTests(TimeSpan.FromSeconds(1)).StepDelay);
    }
}
