#:project ../../../src/Reel.Model/Reel.Model.csproj
#:project ../../../src/Reel.World/Reel.World.csproj
#:property TargetFramework=net10.0
#:property PublishAot=false
#:property RuntimeIdentifier=linux-x64
using System.Diagnostics;
using System.Text.Json;
using Reel.Media;
using Reel.Model;
using Reel.World;
using TorchSharp;
using static TorchSharp.torch;

// VAE variants trained on single frames for a fixed number of steps, scored by PSNR and the tracker's shape on 480
// held-out single-object 48x48 frames (MODEL.md, "What the spatial factor keeps"). From the repository's root:
//   dotnet run -c Release docs/model/probes/vae-frames.cs -- NAME STEPS THREADS [field=json ...] [init=FOLDER] [kl=X] [batch=N]
// The configuration is the shipped one with the given fields replaced (spatialCompression=2, latentChannels=16, ...);
// init=FOLDER loads that folder's VAE instead of a fresh one (STEPS 0 scores it as it is).
var (name, steps, threads) = (args[0], int.Parse(args[1]), int.Parse(args[2]));
set_num_threads(threads);
var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText("models/tiny/config.json"))!["config"]!.AsObject();
var initFrom = (string?)null;
var kl = 1e-5;
var batchSize = 32;
foreach (var kv in args.Skip(3))
{
    var (k, v) = (kv.Split('=')[0], kv.Split('=')[1]);
    if (k == "init") { initFrom = v; continue; }
    if (k == "kl") { kl = double.Parse(v); continue; }
    if (k == "batch") { batchSize = int.Parse(v); continue; }
    node[k] = System.Text.Json.Nodes.JsonNode.Parse(v);
}
var configFile = Path.Combine(Path.GetTempPath(), $"vae-frames-{name}.json");
File.WriteAllText(configFile, node.ToJsonString());
var config = ModelConfig.Named(configFile);
using var model = initFrom is null ? ReelModel.Create(config, seed: 1) : ReelModel.Load(initFrom);
var vae = model.Vae;
vae.ComputeType = ScalarType.BFloat16;
vae.VerifyConvolutions(gradients: true);
Console.WriteLine($"{name}: {vae.parameters().Sum(p => p.numel()) / 1e6:0.00} M params, f_s {config.SpatialCompression}, C {config.LatentChannels}, base {config.VaeChannels}");
Tensor Batch(IEnumerable<ulong> seeds, WorldOptions world, int w, int h) =>
    cat(seeds.Select(s => FrameTensors.ToVideo(ProceduralWorld.Sample(s, w, h, 1, 8, world).Frames)).ToList(), 0);
var optimizer = optim.AdamW(vae.parameters(), 4e-4, 0.9, 0.99, weight_decay: 0.01);
var sizes = new[] { (48, 48), (64, 48), (48, 64) };
var clock = Stopwatch.StartNew();
double lossAvg = 0;
vae.train();
using var gen = new Generator(7);
for (var step = 0; step < steps; step++)
{
    var lr = 4e-4 * Math.Min(1, (step + 1) / 50.0) * (0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * step / steps)));
    foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
    using var scope = NewDisposeScope();
    var (w, h) = sizes[step % 3];
    var video = Batch(Enumerable.Range(0, batchSize).Select(i => (ulong)(step * 1000 + i + 1_000_000)), WorldOptions.Full, w, h);
    var (mean, logVar) = vae.EncodeMoments(video);
    var z = SpacetimeVae.SamplePosterior(mean, logVar, gen);
    var loss = nn.functional.mse_loss(vae.Decode(z), video) + kl * SpacetimeVae.KlDivergence(mean, logVar);
    optimizer.zero_grad();
    loss.backward();
    nn.utils.clip_grad_norm_(vae.parameters(), 1.0);
    optimizer.step();
    lossAvg = 0.98 * lossAvg + 0.02 * loss.item<float>();
    if ((step + 1) % 250 == 0) Console.WriteLine($"  step {step + 1} loss {lossAvg / (1 - Math.Pow(0.98, step + 1)):0.00000} {clock.Elapsed.TotalSeconds:0} s");
}
vae.eval();
// Score: 480 single-object frames at 48x48, seeds apart from training.
var right = 0; var total = 0; double mse = 0;
var byShape = new Dictionary<string, (int R, int N)>();
using (no_grad())
for (var i = 0; i < 480; i++)
{
    using var scope = NewDisposeScope();
    var clip = ProceduralWorld.Sample((ulong)(9_000_000 + i), 48, 48, 1, 8, WorldOptions.SingleObject);
    var video = FrameTensors.ToVideo(clip.Frames);
    var decoded = vae.Decode(vae.Encode(video)).clamp(-1, 1);
    mse += ((decoded - video) * 127.5).square().mean().item<float>();
    var frames = FrameTensors.ToFrames(decoded[0].permute(1, 0, 2, 3).contiguous()).ToList();
    var tracked = Tracker.Track(frames);
    var t = ClipEvaluation.Match(tracked.Tracks, clip.Spec.Objects)[0];
    var o = clip.Spec.Objects[0];
    var key = $"{o.Shape} {o.Size}";
    var ok = t is not null && t.Shape == o.Shape;
    byShape[key] = (byShape.GetValueOrDefault(key).R + (ok ? 1 : 0), byShape.GetValueOrDefault(key).N + 1);
    right += ok ? 1 : 0; total++;
}
var psnr = 10 * Math.Log10(255.0 * 255 / (mse / total));
Console.WriteLine($"RESULT {name}: steps {steps}, {clock.Elapsed.TotalSeconds:0} s, loss {lossAvg:0.00000}, PSNR {psnr:0.00} dB, shape {100.0 * right / total:0.0}%  "
    + string.Join("  ", byShape.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value.R}/{k.Value.N}")));
