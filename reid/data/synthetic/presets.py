"""Parameters of the synthetic MARS-layout generator and its named presets."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from reid.errors import ConfigError


@dataclass(frozen=True)
class GeneratorParams:
    """Every parameter of the generator (all of them are recorded in ``synthetic_meta.json``).

    Ranges are inclusive ``(low, high)`` pairs. Outlier fractions are fractions of the frames of
    identity tracklets (train and test, not distractors or junk); ``wrong_labels`` is the fraction
    of training tracklets drawn as one person and filed under another training pid.
    """

    seed: int = 0
    num_train_ids: int = 70
    num_test_ids: int = 60
    num_cameras: int = 6
    cameras_per_id: tuple[int, int] = (2, 4)
    tracklets_per_camera: tuple[int, int] = (1, 2)
    tracklet_length: tuple[int, int] = (8, 24)
    num_distractors: int = 40
    num_junk: int = 20
    height: int = 256
    width: int = 128
    occlusion: float = 0.0
    blur: float = 0.0
    truncation: float = 0.0
    wrong_labels: float = 0.0
    jpeg_quality: int = 90
    # Harder worlds (all off by default, and then the output is as before, byte for byte):
    outfits: int = 0  # > 0: identities wear one of this many shared outfits (colours and pattern)
    colour_cast: float = 1.0  # scales each camera's deviation from a neutral colour response
    jitter: float = 0.0  # per-frame detection box jitter, std as a fraction of the crop size
    scale_change: float = 0.0  # a tracklet's person scale drifts by up to this fraction
    palette_colours: int = 0  # > 0: clothing (tops, top patterns, bottoms) in the first N palette colours
    patterns: int = 0  # > 0: tops show only the first N patterns (1 plain, 2 + stripes, 3 + lower block, ...)
    twins: float = 0.0  # fraction of each split's identities in near-twin pairs (one small detail apart)

    def validate(self) -> None:
        """Raise ConfigError naming the first parameter outside its valid range."""
        checks = [
            ("num_train_ids", 2 <= self.num_train_ids <= 4000, ">= 2 (a wrong label needs another id)"),
            ("num_test_ids", 1 <= self.num_test_ids <= 4000, "in 1..4000"),
            ("num_cameras", 2 <= self.num_cameras <= 9, "in 2..9 (one digit in MARS names)"),
            ("cameras_per_id", 1 <= self.cameras_per_id[0] <= self.cameras_per_id[1] <= self.num_cameras,
             "1 <= low <= high <= num_cameras"),
            ("tracklets_per_camera", 1 <= self.tracklets_per_camera[0] <= self.tracklets_per_camera[1] <= 50,
             "1 <= low <= high <= 50"),
            ("tracklet_length", 1 <= self.tracklet_length[0] <= self.tracklet_length[1] <= 999,
             "1 <= low <= high <= 999 (three digits in MARS names)"),
            ("num_distractors", self.num_distractors >= 0, ">= 0"),
            ("num_junk", self.num_junk >= 0, ">= 0"),
            ("height", self.height >= 32 and self.height % 2 == 0, "an even number >= 32"),
            ("width", self.width >= 16 and self.width % 2 == 0, "an even number >= 16"),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100, "in 1..100"),
            ("outfits", self.outfits >= 0, ">= 0 (0: every identity dresses on its own)"),
            ("colour_cast", 0.0 <= self.colour_cast <= 3.0, "in [0, 3]"),
            ("jitter", 0.0 <= self.jitter <= 0.2, "in [0, 0.2]"),
            ("scale_change", 0.0 <= self.scale_change <= 0.5, "in [0, 0.5]"),
            ("palette_colours", 0 <= self.palette_colours <= 10, "in 0..10 (0: all 10 top and 6 bottom colours)"),
            ("patterns", 0 <= self.patterns <= 5, "in 0..5 (0: all five; 1: plain tops only)"),
        ]
        checks += [(k, 0.0 <= getattr(self, k) <= 1.0, "a fraction in [0, 1]")
                   for k in ("occlusion", "blur", "truncation", "wrong_labels", "twins")]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"synthetic config: {key}={getattr(self, key)!r}, expected {expected}")


PRESETS: dict[str, GeneratorParams] = {
    # ~10k frames of 256x128: 70 train ids, 60 test ids, 6 cameras, tracklets of 8-24 frames.
    "demo": GeneratorParams(),
    # A few hundred 64x32 frames for unit tests (well under a second to generate).
    "tiny": GeneratorParams(num_train_ids=6, num_test_ids=5, num_cameras=4, cameras_per_id=(2, 3),
                            tracklets_per_camera=(1, 2), tracklet_length=(3, 6), num_distractors=3,
                            num_junk=2, height=64, width=32),
    # The outlier study's size: 40 + 40 ids at 128x64, short tracklets (many runs on 2 CPU cores).
    "study": GeneratorParams(num_train_ids=40, num_test_ids=40, tracklet_length=(6, 16), num_distractors=20,
                             num_junk=10, height=128, width=64),
    # Hard: 100 + 60 ids who share 48 outfits (only build, hair, skin, bag and shoes tell some apart),
    # strong camera colour casts, occluders, motion blur, truncated boxes, box jitter, scale drift.
    "hard": GeneratorParams(num_train_ids=100, num_test_ids=60, tracklet_length=(8, 20), num_distractors=30,
                            num_junk=15, occlusion=0.12, blur=0.12, truncation=0.06, outfits=48,
                            colour_cast=1.3, jitter=0.03, scale_change=0.15),
    # The difficulty ladder above `hard` (LADDER; docs/difficulty_ladder.md): each level keeps the
    # 100 training ids, frame size and tracklet lengths, and turns every other knob one step further.
    # hard2: 100 test ids; clothing in 6 colours and 4 patterns (no logos); 32 outfits; 20% of the
    # ids in near-twin pairs; more occluders, blur, truncation, cast, jitter and scale drift.
    "hard2": GeneratorParams(num_train_ids=100, num_test_ids=100, tracklet_length=(8, 20), num_distractors=45,
                             num_junk=20, occlusion=0.18, blur=0.18, truncation=0.08, outfits=32,
                             colour_cast=1.5, jitter=0.045, scale_change=0.2, palette_colours=6, patterns=4,
                             twins=0.2),
    # hard3: 150 test ids; 4 colours (tops black, white, grey, navy) and 3 patterns (no side block);
    # 24 outfits; 40% near twins; a quarter of the frames occluded, a quarter blurred.
    "hard3": GeneratorParams(num_train_ids=100, num_test_ids=150, tracklet_length=(8, 20), num_distractors=60,
                             num_junk=25, occlusion=0.24, blur=0.24, truncation=0.10, outfits=24,
                             colour_cast=1.65, jitter=0.06, scale_change=0.25, palette_colours=4, patterns=3,
                             twins=0.4),
    # hard4: 200 test ids; 3 colours (black, white, grey tops; black, navy, grey bottoms), plain or
    # striped tops; 16 outfits; 60% near twins; 30% of frames occluded and 30% blurred.
    "hard4": GeneratorParams(num_train_ids=100, num_test_ids=200, tracklet_length=(8, 20), num_distractors=80,
                             num_junk=30, occlusion=0.30, blur=0.30, truncation=0.12, outfits=16,
                             colour_cast=1.8, jitter=0.075, scale_change=0.3, palette_colours=3, patterns=2,
                             twins=0.6),
}

# The difficulty ladder, easiest first: every level is harder than the one before on each knob
# (docs/difficulty_ladder.md).
LADDER = ("hard", "hard2", "hard3", "hard4")


def preset(name: str, **overrides: object) -> GeneratorParams:
    """A preset (a key of PRESETS: ``demo``, ``tiny``, ``study``, ``hard``, ``hard2``...) with some fields replaced.

    Raises:
        ConfigError: unknown preset or field name.
    """
    return pick_preset(PRESETS, name, overrides, "synthetic")


def pick_preset(presets: dict, name: str, overrides: dict, what: str):
    """``presets[name]`` (a dataclass) with ``overrides`` replaced; ``what`` names the generator in errors.

    Raises:
        ConfigError: unknown preset or field name.
    """
    if name not in presets:
        raise ConfigError(f"unknown {what} preset {name!r}; valid presets: {', '.join(sorted(presets))}")
    valid = {f.name for f in fields(presets[name])}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ConfigError(f"unknown {what} parameter {unknown[0]!r}; valid: {', '.join(sorted(valid))}")
    return replace(presets[name], **overrides)

