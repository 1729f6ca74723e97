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

// The shape the tracker reads on the held-out single-object ground truth (one chunk, 2 seeds), blurred by a Gaussian
// of sigma pixels, and after a VAE's round trip (MODEL.md, "What the spatial factor keeps"). From the repository's root:
//   dotnet run -c Release docs/model/probes/tracker-shape.cs -- models/tiny eval/heldout.tsv ROWS.tsv
set_num_threads(1);
var model = ReelModel.Load(args[0]);
var cases = EvalCases.Parse(File.ReadAllText(args[1])).Where(c => c.Expected.Objects.Count == 1 && c.Expected.Occluder != true && c.Chunks == 1).ToList();
const int w = 48, h = 48, frames = 17;
RgbFrame Blur(RgbFrame f, double sigma)
{
    if (sigma == 0) return f;
    var r = (int)Math.Ceiling(3 * sigma);
    var k = Enumerable.Range(-r, 2 * r + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
    var s = k.Sum(); k = k.Select(v => v / s).ToArray();
    double[] Pass(double[] src, bool horizontal)
    {
        var dst = new double[src.Length];
        for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) for (var c = 0; c < 3; c++)
        {
            double acc = 0;
            for (var i = -r; i <= r; i++)
            {
                var (xx, yy) = horizontal ? (Math.Clamp(x + i, 0, w - 1), y) : (x, Math.Clamp(y + i, 0, h - 1));
                acc += k[i + r] * src[3 * (yy * w + xx) + c];
            }
            dst[3 * (y * w + x) + c] = acc;
        }
        return dst;
    }
    var o = Pass(Pass(f.Pixels.Select(b => (double)b).ToArray(), true), false);
    return new RgbFrame(w, h, o.Select(v => (byte)Math.Clamp(Math.Round(v), 0, 255)).ToArray());
}
IReadOnlyList<RgbFrame> RoundTrip(IReadOnlyList<RgbFrame> fr)
{
    using var scope = NewDisposeScope();
    using var _ = no_grad();
    var video = FrameTensors.ToVideo(fr);
    using var latents = model.EncodeLatents(video);
    var decoded = cat(model.DecodeLatents(latents).ToList(), 2).clamp(-1, 1);
    return FrameTensors.ToFrames(decoded[0].permute(1, 0, 2, 3).contiguous()).ToList();
}
var variants = new (string Name, Func<IReadOnlyList<RgbFrame>, IReadOnlyList<RgbFrame>> Apply)[]
{
    ("truth", f => f), ("blur0.5", f => f.Select(x => Blur(x, 0.5)).ToList()), ("blur0.75", f => f.Select(x => Blur(x, 0.75)).ToList()),
    ("blur1.0", f => f.Select(x => Blur(x, 1.0)).ToList()), ("vae", RoundTrip),
};
var rows = new List<string>();
for (var i = 0; i < cases.Count; i++)
{
    var c = cases[i];
    for (var k = 0; k < 2; k++)
    {
        var seed = (ulong)(1000 * (c.Line - 1) + k);
        var spec = ProceduralWorld.Complete(c.Expected, new WorldRandom(seed));
        var truth = ProceduralWorld.Render(spec, seed, w, h, frames, 8);
        var o = spec.Objects[0];
        foreach (var (name, apply) in variants)
        {
            var clip = Tracker.Track(apply(truth.Frames));
            var match = ClipEvaluation.Match(clip.Tracks, spec.Objects);
            var t = match[0];
            var fills = t is null ? "" : string.Join(",", t.FormViews.Select(d => d.Fill.ToString("0.00")));
            rows.Add($"{name}\t{o.Shape}\t{o.Size}\t{o.Motion}\t{(t is null ? "none" : t.Shape.ToString())}\t{fills}");
        }
    }
}
File.WriteAllLines(args[2], rows);
foreach (var g in rows.Select(r => r.Split('\t')).GroupBy(r => r[0]))
{
    Console.WriteLine($"{g.Key}: shape {100.0 * g.Count(r => r[1] == r[4]) / g.Count():0.0}% of {g.Count()}");
    foreach (var s in g.GroupBy(r => (r[1], r[2])).OrderBy(s => s.Key))
        Console.WriteLine($"   {s.Key.Item1,-9}{s.Key.Item2,-6} right {s.Count(r => r[1] == r[4])}/{s.Count()}  read as {string.Join(" ", s.GroupBy(r => r[4]).Select(x => $"{x.Key}:{x.Count()}"))}  median fill {s.SelectMany(r => r[5].Split(',', StringSplitOptions.RemoveEmptyEntries)).Select(double.Parse).Order().DefaultIfEmpty().ElementAt(s.SelectMany(r => r[5].Split(',', StringSplitOptions.RemoveEmptyEntries)).Count() / 2):0.00}");
}
