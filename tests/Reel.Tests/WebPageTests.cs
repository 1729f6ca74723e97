using System.Collections.Concurrent;
using System.Net;
using Microsoft.Playwright;

namespace Reel.Tests;

/// <summary>The page at <c>/</c> of a running <c>reel serve</c>, driven in Debian's Chromium (headless) by Playwright.</summary>
public sealed class WebPageTests
{
    [Fact]
    public async Task A_person_makes_watches_and_finds_a_video_in_the_page_and_the_key_never_enters_a_URL()
    {
        var tenants = Path.Combine(TestModels.TempFolder(), "tenants.json");
        var key = ReelProcess.AddTenant(tenants, "acme");
        var lifetime = TimeSpan.FromSeconds(8);
        using var serve = ReelServer.Serve(tenants, environment: new Dictionary<string, string> { ["REEL__CONTENTURLLIFETIME"] = lifetime.ToString() });
        await serve.HealthyAsync();
        var site = $"http://127.0.0.1:{serve.HttpPort}";
        using var api = serve.Api(key);
        await serve.ServesModelAsync(api);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"],
        });
        var page = await browser.NewPageAsync();
        var requested = new ConcurrentBag<string>();
        var problems = new ConcurrentBag<string>();
        page.Request += (_, request) => requested.Add(request.Url);
        page.Console += (_, message) => { if (message.Type == "error" && !message.Text.StartsWith("Failed to load resource")) problems.Add(message.Text); };
        page.Response += (_, response) => { if (response.Status >= 400) problems.Add($"{response.Status} {response.Url}"); };

        var opened = await page.GotoAsync(site);
        Assert.Contains("default-src 'none'", opened!.Headers["content-security-policy"]);
        Assert.True(await page.EvalOnSelectorAsync<bool>("#progress", "bar => bar.hidden"), "no progress bar before a video runs");
        await page.FillAsync("#key", key);
        await page.ClickAsync("#key-form button");
        await page.WaitForSelectorAsync("#create:not([disabled])");
        Assert.Equal(["1", "2", "4"], await page.EvalOnSelectorAllAsync<string[]>("#seconds option", "options => options.map(o => o.value)"));
        await page.FillAsync("#prompt", "a red ball moves left");
        await page.SelectOptionAsync("#seconds", "1");
        await page.ClickAsync("#create");

        // Polled from here: Playwright's in-page waiting evaluates strings, which the page's CSP (rightly) forbids.
        async Task Until(string condition) => await ReelClient.Until(() => page.EvaluateAsync<bool>(condition), serve);
        await Until("() => document.getElementById('progress').value === 100");
        await Until("() => document.getElementById('player').currentTime > 0.2");
        var item = await page.WaitForSelectorAsync("#gallery li[data-id]");
        Assert.Contains("a red ball moves left — completed", await item!.InnerTextAsync());
        var id = await item.GetAttributeAsync("data-id");
        Assert.StartsWith("video_", id);
        Assert.NotNull(await item.QuerySelectorAsync("img[src^='/content/']"));

        // The player's signed URL works without a key until it expires, then never again.
        var source = await page.EvalOnSelectorAsync<string>("#player", "video => video.src");
        Assert.StartsWith($"{site}/content/", source);
        using var anonymous = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(source)).StatusCode);
        await Task.Delay(lifetime + TimeSpan.FromSeconds(1));
        var expired = await anonymous.GetAsync(source);
        Assert.Equal(HttpStatusCode.Forbidden, expired.StatusCode);
        Assert.Contains("content_url_expired", await expired.Content.ReadAsStringAsync());

        // The gallery's actions: a remix of it (made and played like the first), then the original deleted.
        await page.FillAsync("#prompt", "a blue ball moves left");
        await page.ClickAsync($"#gallery li[data-id='{id}'] button:text('Remix')");
        await Until("() => [...document.querySelectorAll('#gallery li')].filter(li => li.textContent.includes('completed')).length === 2");
        await page.ClickAsync($"#gallery li[data-id='{id}'] button:text('Delete')");
        await Until($"() => document.querySelectorAll('#gallery li').length === 1 && !document.querySelector(\"#gallery li[data-id='{id}']\")");
        Assert.Equal(HttpStatusCode.NotFound, (await api.SendAsync(HttpMethod.Get, $"videos/{id}")).Status);

        Assert.DoesNotContain(requested, url => url.Contains(key) || url.Contains(Uri.EscapeDataString(key)));
        Assert.Contains(requested, url => url.Contains($"/v1/videos/{id}/events"));
        // The looping player asks for its (now expired) URL again: that 403 is the only failure the page may see.
        Assert.All(problems, problem => Assert.Equal($"403 {source}", problem));

        // A wrong key says so and leaves nothing of the tenant on the page.
        await page.FillAsync("#key", "reel_wrong");
        await page.ClickAsync("#key-form button");
        await Until("() => document.getElementById('status').className === 'error'");
        Assert.Equal(0, await page.EvalOnSelectorAllAsync<int>("#gallery li", "items => items.length"));
        Assert.Equal("", await page.InnerTextAsync("#model"));
        Assert.True(await page.IsDisabledAsync("#create"));
        Assert.True(await page.EvalOnSelectorAsync<bool>("#progress", "bar => bar.hidden"));
    }

    [Fact]
    public async Task The_API_reference_renders_its_operations_under_its_Content_Security_Policy()
    {
        using var serve = ReelServer.Serve(Path.Combine(TestModels.TempFolder(), "tenants.json"));
        await serve.HealthyAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync();
        // A blocked script, style or image is reported on the console: the page must need nothing its policy refuses.
        var problems = new ConcurrentBag<string>();
        page.Console += (_, message) => { if (message.Type is "error" or "warning") problems.Add(message.Text); };
        page.PageError += (_, error) => problems.Add(error);
        page.Response += (_, response) => { if (response.Status >= 400) problems.Add($"{response.Status} {response.Url}"); };

        var opened = await page.GotoAsync($"http://127.0.0.1:{serve.HttpPort}/docs");
        Assert.Equal(Reel.Gateway.WebPage.DocsContentSecurityPolicy, opened!.Headers["content-security-policy"]);
        Assert.Equal("nosniff", opened.Headers["x-content-type-options"]);
        await page.WaitForSelectorAsync(".opblock-summary-path");
        var paths = await page.EvalOnSelectorAllAsync<string[]>(".opblock-summary-path", "paths => paths.map(p => p.textContent)");
        Assert.Contains("/v1/videos", paths);
        Assert.Contains("/v1/videos/{id}", paths);

        // An operation opens with its parameters and responses.
        await page.ClickAsync(".opblock-get .opblock-summary");
        await page.WaitForSelectorAsync(".opblock-body .responses-wrapper");
        Assert.True(problems.IsEmpty, string.Join('\n', problems));
    }
}
