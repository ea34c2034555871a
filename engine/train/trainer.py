"""One run's training loop: model, optimizer, evaluation, checkpoints and exact resume."""

from __future__ import annotations

import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core import estimate as est
from engine.core.config import RunConfig, resolved_dtype
from engine.core.schedule import get_lr
from engine.data.token_space import TokenSpace
from engine.train import checkpoint, distributed, telemetry
from engine.train.distributed import Dist
from engine.train.loop_events import (
    Diverged,
    Events,
    StopRequested,
    pick_device,
    sample_batch,
    torch_caps,
)

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Trainer:
    cfg: RunConfig
    train_data: TokenSpace | np.ndarray  # a prepared split's shards, or one array
    val_data: TokenSpace | np.ndarray
    vocab_size: int
    ckpt_dir: Path | None = None
    events: Events = field(default_factory=Events)
    dist: Dist = field(default_factory=Dist)
    threads: int = 0  # torch threads when the config says 0 (the worker's pick, engine.train.host); 0: torch's

    def __post_init__(self) -> None:
        from engine.train.model import GPT

        c = self.cfg
        torch.set_num_threads(c.threads or self.threads or torch.get_num_threads())
        self.device = pick_device(c)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)  # torchrun: one GPU per rank
            torch.cuda.set_device(self.device)
        self.device_type = self.device.type
        distributed.init(self.dist, self.device_type)
        if c.gradient_accumulation_steps % self.dist.world:
            raise ValueError(
                f"gradient_accumulation_steps ({c.gradient_accumulation_steps}) must be a "
                f"multiple of the {self.dist.world} processes"
            )
        self.micro_steps = c.gradient_accumulation_steps // self.dist.world  # per process
        self.dtype = resolved_dtype(c, torch_caps())
        torch.manual_seed(c.seed)
        random.seed(c.seed)
        np.random.seed(c.seed % 2**32)
        if self.device_type == "cuda":
            torch.cuda.manual_seed_all(c.seed)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        amp = self.dtype != "float32" and self.device_type in ("cuda", "cpu")
        self.autocast = torch.autocast(self.device_type, dtype=TORCH_DTYPES[self.dtype]) if amp else nullcontext()
        self.model = GPT(c, self.vocab_size).to(self.device)
        self.optimizer = self.model.configure_optimizer(
            c.weight_decay, c.learning_rate, (c.beta1, c.beta2), self.device_type
        )
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=self.dtype == "float16")
        self.compiled = torch.compile(self.model) if c.compile else self.model
        self.forward = self.compiled  # what training calls: the model, compiled, wrapped for DDP
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device_type == "cuda" else None
            self.forward = DistributedDataParallel(self.compiled, device_ids=ids)
        self.step = 0
        self.best_val_loss = math.inf
        self.tokens_per_iter = est.tokens_per_iter(c)
        self.tokens_before = 0  # tokens(step) = tokens_before + step * tokens_per_iter
        self.flops_per_token = est.flops_per_token(c, self.vocab_size)
        name = telemetry.device_name(self.device_type, self.device.index or 0)
        self.device_label = name
        self.peak_flops = est.peak_flops_for(name) if self.device_type == "cuda" else None
        self.last: dict[str, Any] = {}
        self.diverge_above = 2.0 * math.log(self.vocab_size)

    # -- batches and evaluation --------------------------------------------------------
    def micro_batch_rng(self, micro: int) -> np.random.Generator:
        """The data of micro-batch `micro` of the current step, drawn from (seed, step, micro): the
        same windows however many processes share the step, and after any resume."""
        return np.random.Generator(np.random.PCG64([self.cfg.seed, self.step, micro]))

    def batch(self, data: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        xy = torch.from_numpy(sample_batch(data, self.cfg.batch_size, self.cfg.block_size, rng))
        if self.device_type == "cuda":
            xy = xy.pin_memory().to(self.device, non_blocking=True)
        else:
            xy = xy.to(self.device)
        return xy[:, :-1], xy[:, 1:]

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss over eval_iters batches of each split, drawn from an RNG of (seed, step) so
        the same step always sees the same batches and the training data order is untouched."""
        self.model.eval()
        out = {}
        for split, data in (("train", self.train_data), ("val", self.val_data)):
            rng = np.random.Generator(np.random.PCG64([self.cfg.seed, self.step, split == "val"]))
            losses = torch.zeros(self.cfg.eval_iters)
            for k in range(self.cfg.eval_iters):
                x, y = self.batch(data, rng)
                with self.autocast:
                    _, loss = self.compiled(x, y)  # every rank sees the same batches: no collective
                losses[k] = loss.float().item()
            out[split] = losses.mean().item()
        self.model.train()
        return out

    def tokens(self) -> int:
        """Tokens trained on up to this step (a fork's count goes on from its parent's)."""
        return self.tokens_before + self.step * self.tokens_per_iter

    # -- checkpoints -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "model": checkpoint.strip_compile_prefix(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "tokens": self.tokens(),
            "best_val_loss": self.best_val_loss,
            "rng": checkpoint.rng_state(),
            "config": self.cfg.to_dict(),
            "vocab_size": self.vocab_size,
            "threads": torch.get_num_threads(),  # a resume computes with as many (float sums depend on it)
            # The latest evaluation: a run resumed at its last step reports it without re-evaluating.
            "last_eval": {k: float(v) for k, v in self.last.items() if k in ("val_loss", "val_ppl")},
        }

    def save(self, *names: str, keep: bool = False) -> None:
        """Save the loop state as each of `names`; `keep` also keeps last.pt as step-<step>.pt."""
        if self.ckpt_dir is None or not self.dist.is_main:
            return
        payload = self.state()
        for name in names:
            checkpoint.save(self.ckpt_dir / name, payload)
        if keep:
            checkpoint.keep(self.ckpt_dir, self.step)
        checkpoint.saved(self.ckpt_dir, names, self.step)

    def restore(self, payload: dict[str, Any], optimizer: bool = True) -> None:
        """The loop state of a checkpoint; optimizer=False leaves the optimizer and scaler fresh
        (a fork that asked for it)."""
        self.model.load_state_dict(payload["model"])
        if optimizer:
            # load_state_dict brings back the saved hyperparameters of each group; this run's own
            # (a fork may change weight_decay or the betas) are put back over them.
            configured = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
            self.optimizer.load_state_dict(payload["optimizer"])
            for group, own in zip(self.optimizer.param_groups, configured, strict=True):
                group.update(own)
            self.scaler.load_state_dict(payload["scaler"])
        threads = payload.get("threads")
        if not self.cfg.threads and type(threads) is int and 0 < threads <= (os.cpu_count() or 1):
            torch.set_num_threads(threads)
        self.step = int(payload["step"])
        tokens = payload.get("tokens")  # a fork that changed the batch counts on from its parent's tokens
        self.tokens_before = tokens - self.step * self.tokens_per_iter if type(tokens) is int else 0
        self.best_val_loss = float(payload["best_val_loss"])
        self.last.update(payload.get("last_eval", {}), best_val_loss=self.best_val_loss)
        checkpoint.restore_rng(payload["rng"])

    # -- the loop ----------------------------------------------------------------------
    def eval_point(self) -> None:
        losses = self.evaluate()
        record = {
            "step": self.step,
            "tokens": self.tokens(),
            "train_loss": losses["train"],
            "val_loss": losses["val"],
            "val_ppl": math.exp(min(losses["val"], 700.0)),
            "t": time.time(),
        }
        if not (losses["val"] <= self.diverge_above):
            raise Diverged(self.step, losses["val"], self.diverge_above)
        improved = losses["val"] < self.best_val_loss
        if improved:
            self.best_val_loss = losses["val"]
        record["best_val_loss"] = self.best_val_loss
        self.events.on_eval(record)
        self.last.update(val_loss=losses["val"], val_ppl=record["val_ppl"], best_val_loss=self.best_val_loss)
        k = self.cfg.keep_checkpoints
        keep = k > 0 and self.step % self.cfg.eval_interval == 0 and (self.step // self.cfg.eval_interval) % k == 0
        self.save(checkpoint.LAST, *([checkpoint.BEST] if improved else []), keep=keep)

    def train(self, resumed: bool = False) -> None:
        c = self.cfg
        start = self.step
        nonfinite = torch.zeros((), dtype=torch.bool, device=self.device)
        t_log, step_log = time.perf_counter(), self.step
        while True:
            at_eval = self.step % c.eval_interval == 0 or self.step == c.max_iters
            if at_eval and not (resumed and self.step == start):
                self.eval_point()
                t_log, step_log = time.perf_counter(), self.step
            if self.step >= c.max_iters:
                return
            # The first step of each start is logged too: the run shows its loss and speed at once.
            at_log = (self.step + 1) % c.log_interval == 0 or self.step + 1 == c.max_iters or self.step == start
            # One process decides alone at every step; a DDP job decides together at log steps.
            reason = self.events.should_stop() if not self.dist.enabled or at_log else None
            if self.dist.any(bool(reason), self.device):
                self.save(checkpoint.LAST)
                raise StopRequested(self.step, reason or "stop requested on another process")
            lr = get_lr(self.step, c)
            loss_sum = self.optimizer_step(lr)
            self.step += 1
            nonfinite |= ~torch.isfinite(loss_sum)
            if at_log:
                loss_value = self.dist.mean(loss_sum).item()  # the one sync per log
                bad = self.dist.any(bool(nonfinite), self.device)
                if bad or not (loss_value <= self.diverge_above):
                    raise Diverged(self.step, math.nan if bad else loss_value, self.diverge_above)
                now = time.perf_counter()
                dt = (now - t_log) / max(1, self.step - step_log)
                t_log, step_log = now, self.step
                self.events.on_train(self.train_record(loss_value, lr, dt))
            self.events.on_progress(self.last)

    def optimizer_step(self, lr: float) -> torch.Tensor:
        """One optimizer step at learning rate `lr`: gradients over the step's micro-batches, clipped,
        applied. Returns the mean loss as a device tensor. The step counter is the caller's."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # µP: hidden matrices at lr/m (model.py)
        loss_sum = self.accumulate_gradients()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_sum

    def accumulate_gradients(self) -> torch.Tensor:
        """Forward and backward over this process's micro-batches; returns their mean loss
        (a device tensor: nothing here waits for the GPU)."""
        loss_sum = torch.zeros((), device=self.device)
        first = self.dist.rank * self.micro_steps
        for j in range(self.micro_steps):
            if self.dist.enabled:  # all-reduce gradients once, after the last micro-batch
                self.forward.require_backward_grad_sync = j == self.micro_steps - 1
            x, y = self.batch(self.train_data, self.micro_batch_rng(first + j))
            with self.autocast:
                _, loss = self.forward(x, y)
                loss = loss / self.micro_steps
            self.scaler.scale(loss).backward()
            loss_sum += loss.detach().float()
        return loss_sum

    def train_record(self, loss: float, lr: float, dt: float) -> dict[str, Any]:
        tokens_per_s = self.tokens_per_iter / dt if dt > 0 else 0.0
        record: dict[str, Any] = {
            "step": self.step,
            "tokens": self.tokens(),
            "loss": loss,
            "lr": lr,
            "ms_per_iter": dt * 1000.0,
            "tokens_per_s": tokens_per_s,
            "t": time.time(),
        }
        if self.peak_flops:
            record["mfu"] = self.flops_per_token * tokens_per_s / self.peak_flops
        record.update(telemetry.memory_reading(self.device_type, self.device.index or 0))
        self.last.update(
            step=self.step,
            loss=loss,
            lr=lr,
            tokens_per_s=tokens_per_s,
            tokens=record["tokens"],
            **{k: v for k, v in record.items() if k.startswith("mem")},
        )
        return record
