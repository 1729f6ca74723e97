#:project ../../../src/Reel.Model/Reel.Model.csproj
#:project ../../../src/Reel.World/Reel.World.csproj
#:property TargetFramework=net10.0
#:property PublishAot=false
#:property RuntimeIdentifier=linux-x64
using Reel.Media;
using Reel.Model;
using Reel.World;
using TorchSharp;
using static TorchSharp.torch;

// How much of a VAE's latent variance sits at high spatial frequencies (above half the grid's Nyquist), against the
// pixels' own pooled to the same grid, and how alike consecutive latent frames are, on held-out single-object ground
// truth (MODEL.md, "How diffusable the latent is"). From the repository's root:
//   dotnet run -c Release docs/model/probes/latent-spectrum.cs -- WEIGHTS eval/heldout.tsv CLIPS
set_num_threads(1);
var model = ReelModel.Load(args[0]);
var cases = EvalCases.Parse(File.ReadAllText(args[1])).Where(c => c.Expected.Objects.Count == 1 && c.Expected.Occluder != true && c.Chunks == 1).Take(int.Parse(args[2])).ToList();
const int w = 48, h = 48, frames = 17;
(double High, double TimeCorr) Spectrum(Tensor x) // [C, T, H, W]
{
    using var scope = NewDisposeScope();
    var centred = x - x.mean(new long[] { 2, 3 }, keepdim: true);
    var power = fft.rfft2(centred).abs().pow(2); // [C, T, H, W/2+1]
    var H = x.shape[2]; var W = x.shape[3];
    var fy = fft.fftfreq(H).abs().view(-1, 1); var fx = fft.rfftfreq(W).view(1, -1);
    var radius = (fy.pow(2) + fx.pow(2)).sqrt();
    var high = (radius > 0.25).to(power.dtype);
    var share = (power * high).sum().item<float>() / power.sum().item<float>();
    var a = centred[.., 1..]; var b = centred[.., ..^1];
    var corr = (a * b).sum().item<float>() / Math.Sqrt((a * a).sum().item<float>() * (b * b).sum().item<float>());
    return (share, corr);
}
double lh = 0, lt = 0, ph = 0, pt = 0; var n = 0;
var channels = new List<(double High, double Std)>[model.Config.LatentChannels];
for (var i = 0; i < channels.Length; i++) channels[i] = new();
foreach (var c in cases)
{
    using var scope = NewDisposeScope();
    using var _ = no_grad();
    var seed = (ulong)(1000 * (c.Line - 1));
    var spec = ProceduralWorld.Complete(c.Expected, new WorldRandom(seed));
    var truth = ProceduralWorld.Render(spec, seed, w, h, frames, 8);
    var video = FrameTensors.ToVideo(truth.Frames); // [1, 3, T, H, W]
    var latents = model.EncodeLatents(video)[0];
    var grid = nn.functional.adaptive_avg_pool3d(video, new long[] { latents.shape[1], latents.shape[2], latents.shape[3] })[0];
    var (a1, b1) = Spectrum(latents); var (a2, b2) = Spectrum(grid);
    for (var ch = 0; ch < channels.Length; ch++) channels[ch].Add((Spectrum(latents[ch..(ch + 1)]).High, latents[ch].std().item<float>()));
    lh += a1; lt += b1; ph += a2; pt += b2; n++;
}
Console.WriteLine($"{args[0]}: latent grid {model.Config.ChunkLatentFrames}x{w / model.Config.SpatialCompression}; high-frequency share latent {lh / n:0.000} pixels-at-grid {ph / n:0.000}; frame-to-frame correlation latent {lt / n:0.000} pixels {pt / n:0.000} ({n} clips)");
for (var ch = 0; ch < channels.Length; ch++) Console.WriteLine($"  channel {ch}: high-frequency share {channels[ch].Average(v => v.High):0.000}, std {channels[ch].Average(v => v.Std):0.000}");
