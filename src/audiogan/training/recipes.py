"""Training recipes: how one training step updates the critic and the generator.

A recipe is a small class registered by name (`train.recipe`). The loop hands it the networks, the
optimizers, the augmentation and a source of random draws, calls `step` once per generator step,
and records the loss values it returns under its `columns`. Everything else (EMA, checkpoints,
previews, scoring, stopping, data parallelism) is the loop's. Adding a recipe: a class here with a
`@register_recipe`, and its name in the schema's `train.recipe` enum.

Every recipe's generator step may add the mode-seeking term (`train.mode_seeking`,
`training/diversity.py`): its latents then come in pairs asking for the same label.

- `wavegan`: the paper's WGAN-GP (Gulrajani et al., 2017), `n_critic` critic steps per generator
  step, gradient penalty `gp_weight` on interpolates, as in Donahue et al. (2019).
- `modern`: the StyleGAN2 recipe (Karras et al., 2020): non-saturating logistic loss, one critic
  step per generator step, R1 on real clips every `r1_every` steps scaled by that interval (lazy
  regularization), in float32 even under bf16 autocast.

Both recipes take `label_loss` (conditional training only): a classification loss on the critic's
per-label logits besides the adversarial one (Dual Projection GAN, Han et al. 2021): the critic
learns to name the label of real clips, the generator to make clips the critic names as asked.
The projection critic's score is linear in the label weights y, so its gradient with respect to y
*is* the logit vector; it is read off by a backward pass through the last layer, so every critic
(waveform, spectrogram, multiband) has logits without a new head. With it on, losses.csv also
records how often those logits name the label: of real clips (`label_acc_real`) and of generated
clips, as asked (`label_acc_fake`).

Trained on real clips alone, those logits are a classifier the generator can fool: clips the critic
names "snare" that five independent judges hear as closed hats (benchmarks/RESULTS.md). With
`label_generated_class` the classification gets one more class, "generated", whose logit is fixed
at 0 (the K+1 classifier of Salimans et al., 2016): the critic learns to put generated clips there
and real ones under their label, so the generator is asked for clips the critic names as a real
clip of the label, and a clip it has learned to recognise as generated no longer counts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..model import critic_loss, generator_loss, gradient_penalty
from .augment import AugmentPipe
from .diversity import ModeSeeking, paired


@dataclass
class Nets:
    """The networks as trained (`g_model`/`d_model`: possibly DDP-wrapped or compiled) and their optimizers."""

    generator: torch.nn.Module
    critic: torch.nn.Module
    g_model: torch.nn.Module
    d_model: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


class Draws:
    """Every random draw of a step, from the global torch CPU generator, for the whole global batch;
    each rank keeps its slice (so N ranks compute what one process would).

    Unconditional (`labels` None): reals() and latents() give labels None and draw exactly what
    they always drew. Conditional: real clips come with their labels as one-hot weights, and
    generated clips get labels drawn like the real ones: from the data's label frequencies, or
    uniformly over labels when `balanced` (real clips then too: a label, then a clip of it).

    With `label_scale` s below 1 (a conditioning ramp) the label weights are s times one-hot: the
    generator's label embedding and the critic's projection term are scaled by s, and so is the
    label loss (its target is the weights); while s is 0 the label accuracies it reports mean nothing.

    `label_groups` G > 1 (conditional): in each rank's slice of b clips, clip i and clips i + b/G,
    i + 2b/G, ... share a label, real and generated alike; the critic's minibatch standard
    deviation (whose groups are laid out so) then compares clips of one label.
    """

    def __init__(self, batches: Callable[[torch.Tensor], torch.Tensor], n_clips: int, batch_size: int,
                 latent_dim: int, local: slice, device: torch.device,
                 labels: np.ndarray | None = None, n_labels: int = 0, balanced: bool = False,
                 label_groups: int = 1):  # fmt: skip
        self.batches, self.n_clips, self.batch_size = batches, n_clips, batch_size
        self.latent_dim, self.local, self.device = latent_dim, local, device
        self.n_labels, self.balanced = n_labels, balanced
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        self.label_groups = label_groups if self.labels is not None else 1
        local_size = len(range(batch_size)[local])
        if local_size % self.label_groups:
            raise ValueError(f"label groups of {label_groups} do not divide a rank's {local_size} clips")
        if self.labels is not None and (balanced or self.label_groups > 1):
            order = torch.argsort(self.labels, stable=True)
            counts = torch.bincount(self.labels, minlength=n_labels)
            self._members, self._counts = order, counts
            self._offsets = torch.cumsum(counts, 0) - counts

    # The label weights' scale during a conditioning ramp (`train.condition_ramp`, set by the loop
    # from training/schedule.py): 0 trains both networks unconditionally, 1 fully conditionally.
    label_scale: float = 1.0

    def _one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        y = F.one_hot(ids[self.local], self.n_labels).float()
        if self.label_scale != 1.0:
            y = y * self.label_scale
        return y.to(self.device, non_blocking=True)

    def _grouped_label_ids(self) -> torch.Tensor:
        """Label ids for the global batch in label groups: each rank's b/G labels, drawn like
        ungrouped ones, repeated G times along its slice."""
        ranks = self.batch_size // len(range(self.batch_size)[self.local])
        distinct = self.batch_size // self.label_groups
        ids = (torch.randint(self.n_labels, (distinct,)) if self.balanced
               else self.labels[torch.randint(self.n_clips, (distinct,))])  # fmt: skip
        return ids.view(ranks, 1, -1).expand(-1, self.label_groups, -1).reshape(-1)

    def _clips_of(self, wanted: torch.Tensor) -> torch.Tensor:
        """A random clip of each wanted label."""
        within = (torch.rand(len(wanted)) * self._counts[wanted]).long()
        return self._members[self._offsets[wanted] + within]

    def _clip_rows(self) -> torch.Tensor:
        if self.label_groups > 1:
            return self._clips_of(self._grouped_label_ids())
        if self.labels is not None and self.balanced:
            return self._clips_of(torch.randint(self.n_labels, (self.batch_size,)))
        return torch.randint(self.n_clips, (self.batch_size,))

    def reals(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real clips [b, 1, slice] and their label weights ([b, n_labels], or None)."""
        rows = self._clip_rows()
        y = None if self.labels is None else self._one_hot(self.labels[rows])
        return self.batches(rows[self.local]), y

    def latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latents z [b, latent_dim] in [-1, 1] and the labels to generate ([b, n_labels], or None)."""
        z = torch.rand(self.batch_size, self.latent_dim) * 2.0 - 1.0
        y = None
        if self.label_groups > 1:
            y = self._one_hot(self._grouped_label_ids())
        elif self.labels is not None:
            ids = (torch.randint(self.n_labels, (self.batch_size,)) if self.balanced
                   else self.labels[torch.randint(self.n_clips, (self.batch_size,))])  # fmt: skip
            y = self._one_hot(ids)
        return z[self.local].to(self.device, non_blocking=True), y

    def uniform(self) -> torch.Tensor:
        return torch.rand(self.batch_size)[self.local].to(self.device, non_blocking=True)


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the networks' forward passes autocast to for the `precision` setting. auto: bf16 on
    CUDA; float32 on the CPU, where bf16 (even with Intel AMX units: 1.6x the steps) did not train
    better in the same minutes (benchmarks/RESULTS.md)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[precision]


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Autocast to `dtype` on `device`; nothing for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# Appended to a recipe's columns when the label loss is on (see the module docstring).
LABEL_COLUMNS = ("label_acc_real", "label_acc_fake")


class Recipe:
    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]  # the loss values `step` returns, in order (then LABEL_COLUMNS if used)

    def __init__(self, settings: Mapping[str, Any], nets: Nets, augment: AugmentPipe, device: torch.device,
                 sample_rate: int):  # fmt: skip
        self.settings, self.nets, self.augment, self.device = settings, nets, augment, device
        self.dtype = compute_dtype(settings["precision"], device)
        self.mode_seeking = ModeSeeking(sample_rate).to(device) if settings["mode_seeking"] > 0 else None

    def step(self, draws: Draws, steps_done: int) -> torch.Tensor:
        """One generator step (with its critic steps); the loss values on the device, no host sync."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def _label_weight(self, y: torch.Tensor | None) -> float:
        return float(self.settings["label_loss"]) if y is not None else 0.0

    def _generated_class(self) -> bool:
        return bool(self.settings["label_generated_class"])

    def _critic_labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """Label weights as the critic takes them: with the label loss on, a leaf that requires grad,
        so that `label_terms` can read the critic's logits off as d score / d y."""
        return y.detach().requires_grad_(True) if self._label_weight(y) else y

    def _generator_step(
        self, draws: Draws, loss: Callable[[torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The generator update: its loss, and with the label loss on, the share of its clips the
        critic named as asked (else None)."""
        # Through the frozen critic itself (not its DDP wrapper): no gradient sync needed for it.
        nets = self.nets
        z, y = draws.latents()
        if self.mode_seeking is not None:
            z, y = paired(z, y)
        label_weight, y_critic = self._label_weight(y), self._critic_labels(y)  # the generator keeps y itself
        accuracy = None
        nets.critic.requires_grad_(False)
        with autocast(self.device, self.dtype):
            fake = nets.g_model(z, y)
            scores = nets.critic(self.augment(fake), y_critic)
            g_loss = loss(scores)
            if label_weight:
                named, accuracy = label_terms(scores, y_critic, generated_class=self._generated_class())
                g_loss = g_loss + label_weight * named
        if self.mode_seeking is not None:
            g_loss = g_loss + float(self.settings["mode_seeking"]) * self.mode_seeking(fake, z)
        nets.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        nets.opt_g.step()
        nets.critic.requires_grad_(True)
        return g_loss.detach(), accuracy


RECIPES: dict[str, type[Recipe]] = {}


def register_recipe(cls: type[Recipe]) -> type[Recipe]:
    RECIPES[cls.name] = cls
    return cls


def get_recipe(name: str) -> type[Recipe]:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown training recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None


@register_recipe
class WaveGANRecipe(Recipe):
    """WGAN-GP, `n_critic` critic steps (each on fresh reals and fakes) per generator step."""

    name = "wavegan"
    columns = ("d_loss", "g_loss", "gradient_penalty", "wasserstein")

    def step(self, draws: Draws, steps_done: int) -> torch.Tensor:
        nets, augment, n_critic = self.nets, self.augment, self.settings["n_critic"]
        d_sum = torch.zeros(4, device=self.device)  # d_loss, penalty, wasserstein, label accuracy on reals
        for _ in range(n_critic):
            real, y_real = draws.reals()
            z, y_fake = draws.latents()
            alpha = draws.uniform()
            label_weight, y_real = self._label_weight(y_real), self._critic_labels(y_real)
            fakes_classified = label_weight and self._generated_class()
            if fakes_classified:
                y_fake = self._critic_labels(y_fake)
            with autocast(self.device, self.dtype):
                with torch.no_grad():
                    fake = nets.g_model(z, y_fake.detach() if fakes_classified else y_fake)
                real, fake = augment(real), augment(fake)
                real_scores, fake_scores = nets.d_model(real, y_real), nets.d_model(fake, y_fake)
                augment.observe(real_scores)
                # Interpolates between a real clip and a generated one of possibly another label are
                # judged under the real clip's label (a choice; only the penalty's input changes).
                penalty = gradient_penalty(lambda x: nets.d_model(x, y_real), real, fake.float(),
                                           self.settings["gp_weight"], alpha)  # fmt: skip
                wasserstein = -critic_loss(real_scores, fake_scores)
                d_loss = -wasserstein + penalty
                accuracy = torch.zeros((), device=self.device)
                if label_weight:
                    named, accuracy = label_terms(real_scores, y_real, generated_class=self._generated_class())
                    d_loss = d_loss + label_weight * named
                if fakes_classified:
                    d_loss = d_loss + label_weight * generated_terms(fake_scores, y_fake)
            nets.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            nets.opt_d.step()
            d_sum += torch.stack([d_loss, penalty, wasserstein, accuracy]).detach()
        g_loss, fake_accuracy = self._generator_step(draws, generator_loss)
        d_mean = d_sum / n_critic
        labelled = [d_mean[3], fake_accuracy] if fake_accuracy is not None else []
        return torch.stack([d_mean[0], g_loss, d_mean[1], d_mean[2], *labelled])


def label_logits(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The critic's per-label logits, d scores / d y (see the module docstring), keeping the graph;
    `y` is the leaf, requiring grad, the critic was given."""
    (logits,) = torch.autograd.grad(scores.float().sum(), y, create_graph=True)
    return logits.float()


def _with_generated_class(logits: torch.Tensor) -> torch.Tensor:
    return torch.cat([logits, logits.new_zeros(len(logits), 1)], dim=1)


def label_terms(scores: torch.Tensor, y: torch.Tensor, *, generated_class: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The label loss: cross-entropy between the label weights `y` the critic was given (a leaf that
    requires grad) and the critic's per-label logits, over the labels or, with `generated_class`,
    over the labels and "generated" (logit 0); keeping the graph. And the share of clips whose
    largest per-label logit is their label (detached)."""
    logits = label_logits(scores, y)
    target = y.detach()
    classes = logits
    if generated_class:
        classes, target = _with_generated_class(logits), F.pad(target, (0, 1))
    loss = -(target * F.log_softmax(classes, dim=1)).sum(1).mean()
    accuracy = (logits.detach().argmax(1) == y.detach().argmax(1)).float().mean()
    return loss, accuracy


def generated_terms(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The critic's label loss on generated clips with `label_generated_class`: cross-entropy with
    the class "generated", whatever label they were asked for (`y`, a leaf that requires grad)."""
    classes = _with_generated_class(label_logits(scores, y))
    return -F.log_softmax(classes, dim=1)[:, -1].mean()


def r1_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """E[||grad_x D(x, y)||^2] / 2 on real clips, in float32 (kept out of any autocast)."""
    with torch.autocast(real.device.type, enabled=False):
        real = real.detach().float().requires_grad_(True)
        scores = critic(real, y)
        (grads,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
        return 0.5 * grads.square().flatten(1).sum(1).mean()


@register_recipe
class ModernRecipe(Recipe):
    """Non-saturating logistic loss, 1:1, lazy R1 on (augmented) real clips."""

    name = "modern"
    columns = ("d_loss", "g_loss", "r1", "real_sign")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.last_r1 = torch.zeros((), device=self.device)

    def step(self, draws: Draws, steps_done: int) -> torch.Tensor:
        nets, augment = self.nets, self.augment
        gamma, every = float(self.settings["r1_gamma"]), int(self.settings["r1_every"])
        real, y_real = draws.reals()
        z, y_fake = draws.latents()
        label_weight, y_real = self._label_weight(y_real), self._critic_labels(y_real)
        fakes_classified = label_weight and self._generated_class()
        if fakes_classified:
            y_fake = self._critic_labels(y_fake)
        with autocast(self.device, self.dtype):
            with torch.no_grad():
                fake = nets.g_model(z, y_fake.detach() if fakes_classified else y_fake)
            real = augment(real)
            real_scores, fake_scores = nets.d_model(real, y_real), nets.d_model(augment(fake), y_fake)
            d_loss = F.softplus(fake_scores.float()).mean() + F.softplus(-real_scores.float()).mean()
        augment.observe(real_scores)
        total = d_loss
        if label_weight:
            named, real_accuracy = label_terms(real_scores, y_real, generated_class=self._generated_class())
            total = total + label_weight * named
        if fakes_classified:
            total = total + label_weight * generated_terms(fake_scores, y_fake)
        if gamma > 0 and steps_done % every == 0:
            penalty = r1_penalty(nets.d_model, real, y_real)
            total = total + gamma * every * penalty
            self.last_r1 = penalty.detach()
        nets.opt_d.zero_grad(set_to_none=True)
        total.backward()
        nets.opt_d.step()
        g_loss, fake_accuracy = self._generator_step(draws, lambda scores: F.softplus(-scores.float()).mean())
        real_sign = real_scores.detach().float().sign().mean()
        labelled = [real_accuracy, fake_accuracy] if fake_accuracy is not None else []
        return torch.stack([d_loss.detach(), g_loss, self.last_r1, real_sign, *labelled])

    def state_dict(self) -> dict[str, Any]:
        return {"last_r1": float(self.last_r1.item())}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_r1 = torch.tensor(float(state["last_r1"]), device=self.device)
