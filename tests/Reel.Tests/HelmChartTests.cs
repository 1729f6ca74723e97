using System.Diagnostics;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Reel.Tests;

/// <summary>
/// The Helm chart and the development stack, rendered by real helm and kubectl (from the npm package test.sh installs)
/// and checked offline: Kubernetes schemas (KubernetesClient, strict), the KEDA object by assertions, and what matters.
/// </summary>
public sealed class HelmChartTests
{
    private static readonly string Chart = Path.Combine(TestModels.RepositoryRoot(), "charts", "reel");
    private static readonly string Example = Path.Combine(Chart, "examples", "two-gpu-pools.yaml");

    private static string Tool(string name) => Environment.GetEnvironmentVariable($"REEL_{name.ToUpperInvariant()}")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "reel", "tools", "k8s", name, name);

    private static (int ExitCode, string Stdout, string Stderr) Run(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(Tool(tool)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private sealed record Rendered(List<IKubernetesObject> Objects, List<YamlMappingNode> ScaledObjects)
    {
        public IEnumerable<T> All<T>() => Objects.OfType<T>();
    }

    /// <summary>Renders and parses every manifest: strictly against the Kubernetes types, KEDA's as YAML.</summary>
    private static Rendered Template(params string[] values)
    {
        var rendered = Run("helm", ["template", "r", Chart, .. values.SelectMany(v => new[] { "-f", v })]);
        Assert.True(rendered.ExitCode == 0, rendered.Stderr);
        return Parse(rendered.Stdout);
    }

    private static Rendered Parse(string yaml)
    {
        var result = new Rendered([], []);
        foreach (var document in yaml.Split("\n---", StringSplitOptions.RemoveEmptyEntries).Where(d => d.Contains("kind:")))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(document));
            var root = (YamlMappingNode)stream.Documents[0].RootNode;
            if (((YamlScalarNode)root["kind"]).Value == "ScaledObject") result.ScaledObjects.Add(root);
            else result.Objects.AddRange(KubernetesYaml.LoadAllFromString(document, strict: true).Cast<IKubernetesObject>());
        }
        return result;
    }

    [Fact]
    public void Lint_is_strictly_clean_with_default_values_and_the_full_example()
    {
        var plain = Run("helm", "lint", "--strict", Chart);
        Assert.True(plain.ExitCode == 0, plain.Stdout + plain.Stderr);
        var full = Run("helm", "lint", "--strict", Chart, "-f", Example);
        Assert.True(full.ExitCode == 0, full.Stdout + full.Stderr);
    }

    [Fact]
    public void Default_values_render_a_GPU_pool_and_a_gateway_with_real_probes_and_secrets_only_by_reference()
    {
        var rendered = Template();
        var silo = Assert.Single(rendered.All<V1Deployment>(), d => d.Metadata.Labels["app.kubernetes.io/component"] == "model-silo");
        var siloPod = silo.Spec.Template.Spec;
        var container = Assert.Single(siloPod.Containers);
        Assert.Equal("1", container.Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.EndsWith("-cuda", container.Image);
        Assert.Contains("--model", container.Args);
        Assert.Equal("status.podIP", container.Env.Single(e => e.Name == "REEL__ADVERTISEIP").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.name", container.Env.Single(e => e.Name == "REEL__SILONAME").ValueFrom.FieldRef.FieldPath);
        // The endpoints the hosts really map: /healthz (every silo, 200 once the weights are loaded), /health (gateway).
        Assert.Equal("/healthz", container.StartupProbe.HttpGet.Path);
        Assert.True(container.StartupProbe.FailureThreshold * container.StartupProbe.PeriodSeconds >= 600);
        Assert.Equal("/healthz", container.ReadinessProbe.HttpGet.Path);
        Assert.True(siloPod.TerminationGracePeriodSeconds > 600, "the grace period must outlast the 600 s drain");
        Assert.True(silo.Spec.MinReadySeconds >= 2 * Reel.Hosting.ReelHost.GatewayListRefreshPeriod.TotalSeconds,
            "a rollout must not stop the old silos before the gateways have learned of the new ones");
        // The management port (metrics, drain) is apart from health, opened to the cluster, and drain wants the
        // operator's token from a Secret the chart generates.
        Assert.Contains("--management-port=9464", container.Args);
        Assert.Equal("9464", silo.Spec.Template.Metadata.Annotations["prometheus.io/port"]);
        Assert.Equal("0.0.0.0", container.Env.Single(e => e.Name == "REEL__MANAGEMENTADDRESS").Value);
        var operatorToken = container.Env.Single(e => e.Name == "REEL__OPERATORTOKEN").ValueFrom.SecretKeyRef;
        var operatorSecret = Assert.Single(rendered.All<V1Secret>(), s => s.Metadata.Name == operatorToken.Name);
        Assert.True(System.Text.Encoding.UTF8.GetString(operatorSecret.Data[operatorToken.Key]).Length >= 16);

        var gateway = Assert.Single(rendered.All<V1Deployment>(), d => d.Metadata.Labels["app.kubernetes.io/component"] == "gateway");
        var gatewayContainer = Assert.Single(gateway.Spec.Template.Spec.Containers);
        Assert.Equal("/health", gatewayContainer.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/health", gatewayContainer.LivenessProbe.HttpGet.Path);
        Assert.Equal("gateway", gatewayContainer.Args[0]);

        // Connection strings and keys reach pods only through Secret references, never a ConfigMap or a literal env.
        foreach (var configMap in rendered.All<V1ConfigMap>())
            Assert.DoesNotContain(configMap.Data.Values, v => v.Contains("redis:6379") || v.Contains("tenants"));
        foreach (var env in rendered.All<V1Deployment>().SelectMany(d => d.Spec.Template.Spec.Containers).SelectMany(c => c.Env))
            if (env.Name is "REEL__REDIS" or "REEL__BLOB" or "REEL__CONTENTURLKEY") Assert.NotNull(env.ValueFrom.SecretKeyRef);
        Assert.Contains(rendered.All<V1Secret>(), s => s.StringData?.ContainsKey("redis") == true);

        // The public Service is the HTTP API alone: the silo (11111) and client gateway (30000) ports stay internal.
        var service = Assert.Single(rendered.All<V1Service>());
        var port = Assert.Single(service.Spec.Ports);
        Assert.Equal("http", port.TargetPort.Value);
        Assert.DoesNotContain(rendered.All<V1Service>().SelectMany(s => s.Spec.Ports), p => p.Port is 11111 or 30000);
        Assert.Single(rendered.All<V1PodDisruptionBudget>());
        Assert.Single(rendered.All<V2HorizontalPodAutoscaler>());
        Assert.Empty(rendered.ScaledObjects);
        Assert.Equal(2, rendered.All<V1NetworkPolicy>().Count());
    }

    [Fact]
    public void The_full_example_renders_two_GPU_pools_KEDA_on_one_an_HPA_on_the_other_and_an_Ingress()
    {
        var rendered = Template(Example);
        var pools = rendered.All<V1Deployment>().Where(d => d.Metadata.Labels["app.kubernetes.io/component"] == "model-silo")
            .ToDictionary(d => d.Metadata.Labels["reel.io/pool"]);
        Assert.Equal(["drafts", "quality"], pools.Keys.Order());
        Assert.Equal("1", pools["quality"].Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.Equal("1", pools["drafts"].Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/mig-3g.40gb"].ToString());
        Assert.Equal("nvidia", pools["quality"].Spec.Template.Spec.RuntimeClassName);
        Assert.Equal(960, pools["quality"].Spec.Template.Spec.TerminationGracePeriodSeconds);
        Assert.Equal(360, pools["drafts"].Spec.Template.Spec.TerminationGracePeriodSeconds);
        Assert.Contains("--weights=/weights/base-2026-11", pools["quality"].Spec.Template.Spec.Containers[0].Args);
        Assert.Equal("reel-weights", pools["quality"].Spec.Template.Spec.Volumes.Single().PersistentVolumeClaim.ClaimName);

        var hpa = Assert.Single(rendered.All<V2HorizontalPodAutoscaler>(), h => h.Spec.ScaleTargetRef.Name == pools["quality"].Metadata.Name);
        Assert.Equal(8, hpa.Spec.MaxReplicas);
        var keda = Assert.Single(rendered.ScaledObjects);
        Assert.Equal("keda.sh/v1alpha1", ((YamlScalarNode)keda["apiVersion"]).Value);
        var spec = (YamlMappingNode)keda["spec"];
        Assert.Equal(pools["drafts"].Metadata.Name, ((YamlScalarNode)((YamlMappingNode)spec["scaleTargetRef"])["name"]).Value);
        var trigger = (YamlMappingNode)((YamlSequenceNode)spec["triggers"]).Children.Single();
        Assert.Equal("prometheus", ((YamlScalarNode)trigger["type"]).Value);
        var metadata = (YamlMappingNode)trigger["metadata"];
        Assert.Equal("http://prometheus-operated.monitoring.svc:9090", ((YamlScalarNode)metadata["serverAddress"]).Value);
        Assert.Equal("sum(reel_pool_queue_depth{pool=\"drafts\"})", ((YamlScalarNode)metadata["query"]).Value);
        Assert.Equal("3", ((YamlScalarNode)metadata["threshold"]).Value);
        // Never both for one pool: the drafts pool has no HPA.
        Assert.DoesNotContain(rendered.All<V2HorizontalPodAutoscaler>(), h => h.Spec.ScaleTargetRef.Name == pools["drafts"].Metadata.Name);

        var ingress = Assert.Single(rendered.All<V1Ingress>());
        Assert.Equal("video.example.com", ingress.Spec.Rules.Single().Host);
        // Existing Secrets are referenced by name: the chart makes none of its own for them.
        Assert.Empty(rendered.All<V1Secret>());
        var env = pools["quality"].Spec.Template.Spec.Containers[0].Env;
        Assert.Equal(("reel-redis", "connection"), (env.Single(e => e.Name == "REEL__REDIS").ValueFrom.SecretKeyRef.Name, env.Single(e => e.Name == "REEL__REDIS").ValueFrom.SecretKeyRef.Key));
    }

    [Fact]
    public void A_pool_with_both_an_HPA_and_a_ScaledObject_is_refused()
    {
        var values = Path.Combine(TestModels.TempFolder(), "both.yaml");
        File.WriteAllText(values, """
            pools:
              - name: twice
                gpu: {count: 1, resourceName: nvidia.com/gpu}
                weights: {path: ""}
                drainTimeoutSeconds: 60
                startupSeconds: 60
                autoscaling: {enabled: true}
                keda: {enabled: true}
            """);
        var rendered = Run("helm", "template", "r", Chart, "-f", values);
        Assert.NotEqual(0, rendered.ExitCode);
        Assert.Contains("pools.0", rendered.Stderr);
    }

    [Fact]
    public void The_development_stack_renders_with_kustomize_into_valid_manifests()
    {
        var rendered = Run("kubectl", "kustomize", Path.Combine(TestModels.RepositoryRoot(), "deploy", "dev"));
        Assert.True(rendered.ExitCode == 0, rendered.Stderr);
        var objects = Parse(rendered.Stdout);
        Assert.Equal(["azurite", "redis", "reel-gateway", "reel-silo"], objects.All<V1Deployment>().Select(d => d.Metadata.Name).Order(StringComparer.Ordinal));
        Assert.All(objects.Objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace), o => Assert.Equal("reel-dev", o.Metadata.NamespaceProperty));
        var silo = objects.All<V1Deployment>().Single(d => d.Metadata.Name == "reel-silo").Spec.Template.Spec.Containers.Single();
        Assert.StartsWith("reel-connections-", silo.Env.Single(e => e.Name == "REEL__REDIS").ValueFrom.SecretKeyRef.Name);
    }
}
