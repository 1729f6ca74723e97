// Does a weights folder's caption encoder tell the world's attributes apart? A linear probe on the pooled caption
// embedding (what the DiT's pooled conditioning reads), trained on 800 captions from the world's captioner and scored
// on 400 others: if it reads an attribute the DiT does not follow, the DiT is what fails, not the encoder.
//   dotnet run eval/caption-probe.cs -- WEIGHTS_FOLDER
#:project ../src/Reel.Model/Reel.Model.csproj
#:project ../src/Reel.World/Reel.World.csproj
#:property PublishAot=false
using Reel.Model;
using Reel.World;
using TorchSharp;
using static TorchSharp.torch;

const int trainCount = 800, testCount = 400;
if (args.Length != 1 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: dotnet run eval/caption-probe.cs -- WEIGHTS_FOLDER");
    return 2;
}
using var model = ReelModel.Load(args[0]);
manual_seed(0);
var random = new WorldRandom(7);
var objects = Enumerable.Range(0, trainCount + testCount).Select(_ => new ObjectSpec(random.Pick(Enum.GetValues<Shape>()),
    random.Pick(Enum.GetValues<Colour>()), random.Pick(Enum.GetValues<ObjectSize>()), random.Pick(Enum.GetValues<Motion>()))).ToArray();
var captions = objects.Select(o => Captioner.Describe(new SceneSpec([o], Occluder: false), random)).ToArray();

using var pooled = Pooled(captions);
Probe("colour", o => o.Colour!.Value.ToString());
Probe("shape", o => o.Shape!.Value.ToString());
Probe("size", o => o.Size!.Value.ToString());
Probe("motion", o => o.Motion!.Value.ToString(), byClass: true);
return 0;

Tensor Pooled(string[] texts)
{
    using var noGrad = no_grad();
    using var tokens = model.CaptionEncoder.Encode(texts);
    return DiffusionTransformer.PooledCaption(tokens.Tokens, tokens.Mask);
}

void Probe(string attribute, Func<ObjectSpec, string> label, bool byClass = false)
{
    using var scope = NewDisposeScope();
    var classes = objects.Select(label).Distinct().Order().ToList();
    var labels = tensor(objects.Select(o => (long)classes.IndexOf(label(o))).ToArray());
    var (trainX, trainY, testX, testY) = (pooled[..trainCount], labels[..trainCount], pooled[trainCount..], labels[trainCount..]);
    var probe = nn.Linear(pooled.shape[1], classes.Count);
    var optimizer = optim.Adam(probe.parameters(), 1e-2);
    for (var step = 0; step < 500; step++)
    {
        using var stepScope = NewDisposeScope();
        optimizer.zero_grad();
        nn.functional.cross_entropy(probe.forward(trainX), trainY).backward();
        optimizer.step();
    }
    using var noGrad = no_grad();
    var predicted = probe.forward(testX).argmax(1).data<long>().ToArray();
    var truth = testY.data<long>().ToArray();
    var right = predicted.Zip(truth).Count(p => p.First == p.Second);
    Console.WriteLine($"{attribute}: {100.0 * right / testCount:0.0}% of {testCount} held-out captions ({classes.Count} classes)");
    if (!byClass) return;
    for (var c = 0; c < classes.Count; c++)
    {
        var of = Enumerable.Range(0, testCount).Where(i => truth[i] == c).ToArray();
        var wrong = of.Where(i => predicted[i] != c).Select(i => classes[(int)predicted[i]]);
        Console.WriteLine($"  {classes[c],-10} {of.Count(i => predicted[i] == c)}/{of.Length}{(wrong.Any() ? "  read as " + string.Join(", ", wrong) : "")}");
    }
}
