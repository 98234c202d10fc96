"""``ablate.md``: the setting, a table of every claim's verdict, and a section per claim."""

from __future__ import annotations

from .claims import GAP, STEPS, VAL_TOP1
from .plan import Plan
from .report import Setting, VariantReport
from .stats import SEPARATION, Comparison, Summary

VERDICT_TEXT = {"paper's sign": "**paper's sign**", "opposite sign": "**opposite sign**",
                "not separable": "not separable at this budget"}


def render_markdown(setting: Setting, plan: Plan, reports: list[VariantReport],
                    pictures: dict[str, str]) -> str:
    """The whole page; ``pictures`` maps a claim name (or "differences") to a PNG file name."""
    lines = [f"# netdef ablate: `{setting.experiment}`", ""]
    lines += _setting(setting)
    lines += [f"*Note:* {note}" for note in plan.notes] + ([""] if plan.notes else [])
    lines += ["| claim | variant | measure | base | variant | Δ | verdict |",
              "|---|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r.claim.name} | {r.variant.name} | {_measure(r, setting)} | "
                     f"{mean_sd(r.primary.base, kind_of(r))} | "
                     f"{mean_sd(r.primary.variant, kind_of(r))} | "
                     f"{delta_text(r.primary, kind_of(r))} | {VERDICT_TEXT[r.primary.verdict]} |")
    if "differences" in pictures:
        lines += ["", f"![differences]({pictures['differences']})"]
    for claim, _ in plan.claims:
        lines += [""] + _claim_section(claim, [r for r in reports if r.claim is claim],
                                       plan, setting, pictures.get(claim.name))
    return "\n".join(lines) + "\n"


def _setting(s: Setting) -> list[str]:
    seeds = ", ".join(map(str, s.seeds))
    machine = ", ".join(f"{k} {v}" for k, v in s.machine.items())
    return [
        f"**Data.** `{s.data}`: {s.classes} classes, {s.num_train:,} training and "
        f"{s.num_val:,} validation images of {s.channels} channel{'s' * (s.channels != 1)}, "
        f"packed at {s.image_size} px, trained on "
        f"{s.inner_size}×{s.inner_size} crops; the validation numbers are centre crops of the "
        f"validation images (the ten-view claim aside).",
        "",
        f"**Budget.** {s.epochs} epoch{'s' * (s.epochs != 1)} of batches of {s.batch_size} "
        f"({s.steps:,} steps) per run; {len(s.seeds)} seed{'s' * (len(s.seeds) != 1)} "
        f"({seeds}); devices `{s.devices}`.",
        "",
        f"**Wall time.** {_duration(s.train_seconds)} of training over all runs; this "
        f"invocation {_duration(s.wall_seconds)}. Machine: {machine}.",
        "",
        f"**Command.** `{s.command}`",
        "",
        f"**Reading the verdicts.** Δ = variant − base, each the mean over the seeds (± the "
        f"seed-to-seed standard deviation). The paper says each ingredient helps, so it "
        f"predicts Δ > 0: more error, or more steps, without it (beside the dropout claim, the "
        f"steps to the threshold: Δ < 0, dropout slowing training). A Δ counts as separable when "
        f"it passes {SEPARATION}; anything else is *not separable at this budget* — neither "
        f"confirmed nor refuted. With one seed nothing is separable.",
        "",
    ]


def _claim_section(claim, reports: list[VariantReport], plan: Plan, setting: Setting,
                   picture: str | None) -> list[str]:
    lines = [f"## {claim.name} ({claim.where})", "", f"*The paper:* {claim.paper}.", ""]
    for r in reports:
        v = r.variant
        lines += [f"*Variant `{v.name}`:* {v.variant.description}; {v.params:,} parameters "
                  f"(base {plan.base.params:,}), {v.macs:,} multiply-adds per image "
                  f"(base {plan.base.macs:,})."]
        lines += [f"- {c}" for c in v.variant.changes]
        lines += [f"- experiment: {k} = {val}" for k, val in v.variant.overrides.items()]
        measure = _measure(r, setting).capitalize()
        delta = (f"Δ {delta_text(r.primary, kind_of(r))}; " if r.primary.delta is not None
                 else "")
        lines += ["", f"{measure}: {delta}{VERDICT_TEXT[r.primary.verdict]} "
                      f"({r.primary.reason}).", ""]
        lines += [_line(_label(metric, setting), c, "steps" if metric == STEPS else "pct")
                  for metric, c in r.others.items()]
        lines += ["", *_seed_table(r, setting), ""]
    if picture:
        lines += [f"![{claim.name}]({picture})", ""]
    return lines


def _label(metric: str, setting: Setting) -> str:
    return {VAL_TOP1: "validation top-1 error",
            STEPS: f"steps to {100 * setting.threshold:g}% training error",
            GAP: "overfitting gap (validation − training top-1; the training error as logged "
                 "while training, dropout and augmentation on)"}[metric]


def _line(what: str, c: Comparison, kind: str) -> str:
    return (f"- {what}: base {mean_sd(c.base, kind)}, variant {mean_sd(c.variant, kind)}, "
            f"Δ {delta_text(c, kind)} ({VERDICT_TEXT[c.verdict]})")


def _seed_table(r: VariantReport, setting: Setting) -> list[str]:
    kind, per_epoch = kind_of(r), setting.steps / setting.epochs

    def cell(x: float | None) -> str:
        if kind == "steps" and x is not None:  # the paper's Figure 1 counts epochs
            return f"{x:,.0f} ({x / per_epoch:.2f} epochs)"
        return _value(x, kind)

    head = ["| seed | base | variant |", "|---|---|---|"]
    return head + [f"| {seed} | {cell(b)} | {cell(v)} |"
                   for seed, b, v in zip(setting.seeds, r.primary.base.values,
                                         r.primary.variant.values, strict=True)]


def kind_of(r: VariantReport) -> str:
    return "steps" if r.claim.metric == STEPS and r.variant.variant.trains else "pct"


def _measure(r: VariantReport, setting: Setting) -> str:
    if not r.variant.variant.trains:
        return "validation top-1 error, ten views (base) vs centre crop (variant)"
    return _label(r.claim.metric, setting)


def _value(x: float | None, kind: str) -> str:
    if x is None:
        return "not reached"
    return f"{x:,.0f}" if kind == "steps" else f"{100 * x:.2f}%"


def mean_sd(s: Summary, kind: str) -> str:
    if s.censored:
        return f"not reached in {s.censored}/{s.n}"
    if s.sd is None:
        return _value(s.mean, kind)
    if kind == "steps":
        return f"{s.mean:,.0f} ± {s.sd:,.0f}"
    return f"{100 * s.mean:.2f} ± {100 * s.sd:.2f}%"


def delta_text(c: Comparison, kind: str) -> str:
    if c.delta is None:
        return "—"
    if kind == "steps":
        ratio = f" (×{c.ratio:.2f})" if c.ratio is not None else ""
        return f"{c.delta:+,.0f}{ratio}"
    return f"{100 * c.delta:+.2f} pp"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"
