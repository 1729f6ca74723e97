namespace Reel.Model;

/// <summary>The words a fresh caption encoder knows; a trained model's vocabulary lives in its config.json.</summary>
public static class CaptionVocabulary
{
    public static string[] Default { get; } =
    [
        // function words
        "a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "from", "with", "into", "onto", "over", "under",
        "behind", "before", "after", "then", "while", "as", "is", "are", "it", "its", "one", "two", "three", "each",
        "other", "another", "both", "again", "back", "off", "across", "along", "toward", "towards", "through", "up", "down",
        // colours and looks
        "red", "orange", "yellow", "green", "cyan", "blue", "magenta", "purple", "pink", "white", "grey", "gray", "black",
        "dark", "bright", "light", "plain", "background",
        // shapes and sizes
        "disc", "disk", "circle", "ball", "square", "box", "triangle", "shape", "object", "objects", "small", "large",
        "big", "little", "pillar", "wall", "floor", "ceiling",
        // motion
        "moves", "moving", "slides", "sliding", "falls", "falling", "drops", "bounces", "bouncing", "thrown", "throws",
        "rises", "rising", "rests", "resting", "stays", "still", "stationary", "passes", "hidden", "appears", "emerges",
        "gravity", "left", "right", "top", "bottom", "upward", "downward", "diagonally", "fast", "slow", "slowly", "quickly",
        "north", "south", "east", "west", "corner", "middle", "center", "centre", "scene", "frame", "video", "clip",
        // the procedural world's captions (a test keeps every caption word here)
        "against", "air", "backdrop", "block", "column", "comes", "does", "drifts", "edges", "flies", "front", "glides",
        "ground", "leftward", "lower", "motionless", "move", "not", "part", "place", "rightward", "sits", "size", "stands",
        "tossed", "travels", "upper", "walls", "wedge",
    ];
}
