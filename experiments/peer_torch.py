#!/usr/bin/env python3
"""The PyTorch peer of `deno task bench`: the same EFA, the same batches, the
same algorithms (masked copies for bidirectional models, two streams for
unidirectional causal models, equal-length rows elsewhere, as lib/plan.ts and
lib/_whole_sequences.ts compute them), trained with Adam on one CPU thread.

    python3 experiments/peer_torch.py EXCHANGE.json

EXCHANGE.json is written by experiments/peer.ts: the model's config and
initial weights, one epoch of steps exactly as train() draws them, and the
package's loss and gradients on the first step. The script

1. checks that it computes the same thing: its loss and gradients on the first
   step, from the package's weights, against the package's (float32 tolerance);
2. trains one epoch over the same steps (torch.optim.Adam, the package's
   learning rate, betas and epsilon) after a warm-up of a few steps on a copy
   of the weights, and times it;
3. prints one JSON line: predictions per second, the check's differences, the
   epoch's mean training loss, the torch version, threads and the BLAS library
   the process loaded.

It is outside CI and outside the package: only the bench runs it, when
`python3 -c "import torch"` works. Debian's python3-torch (1.13) is enough.
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

MASKED_LOGIT = -1e9


def dense(P, name, x):
    y = x @ P[name + ".kernel"]
    bias = P.get(name + ".bias")
    return y if bias is None else y + bias


def heads(t, H):
    """[..., T, H*K] -> [..., H, T, K]."""
    *lead, T, HK = t.shape
    return t.reshape(*lead, T, H, HK // H).transpose(-2, -3)


def merge(t):
    """[..., H, T, K] -> [..., T, H*K]."""
    *lead, H, T, K = t.shape
    return t.transpose(-2, -3).reshape(*lead, T, H * K)


class Efa:
    def __init__(self, config, params, features):
        self.c = config
        self.P = params
        self.features = features
        self.H = config["heads"]
        self.K = config["keyDim"]
        self.scale = 1 / math.sqrt(self.K)

    # 1. tokens
    def tokens(self, b, mask, mask_item):
        c, P = self.c, self.P
        items = b["items"]
        parts = []
        if c["itemEmbedding"]["kind"] == "table":
            ids = items
            if mask_item and mask is not None:
                ids = torch.where(mask, torch.full_like(items, c["numItems"] + 1), items)
            parts.append(F.embedding(ids, P["item.embedding"]))
        else:
            f = self.features[items]
            parts.append(dense(P, "item.output", torch.relu(dense(P, "item.hidden", f))))
        value = c["valueEmbedding"]
        if value["kind"] == "table":
            t = torch.trunc(b["values"]).long()
            ids = torch.where(t < 0, t + value["size"], t)
            if mask is not None:
                ids = torch.where(mask, torch.full_like(ids, value["maskIndex"]), ids)
            parts.append(F.embedding(ids, P["value.embedding"]))
        elif value["kind"] == "mlp":
            v = dense(P, "value.output", torch.relu(dense(P, "value.hidden", b["values"][..., None])))
            if mask is not None:
                m = mask[..., None].float()
                v = v * (1 - m) + P["value.mask"][1] * m
            parts.append(v)
        if c["lagGroups"] > 0:
            parts.append(F.embedding(b["lags"], P["lag.embedding"]))
        x = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        if c["tokenMixer"] is not None:
            x = dense(P, "mixer.output", torch.relu(dense(P, "mixer.hidden", x)))
        if c["positionEmbedding"]:
            x = x + P["position.embedding"][: items.shape[-1]]
        return x

    # 2. attention, 3. block
    def qkv(self, l, x, parts="qkv"):
        names = {"q": "query", "k": "key", "v": "value"}
        return [heads(dense(self.P, f"layer{l}.attention.{names[p]}", x), self.H) for p in parts]

    def attend(self, q, k, v, bias=None):
        logits = (q @ k.transpose(-1, -2)) * self.scale
        if bias is not None:
            logits = logits + bias
        return torch.softmax(logits, -1) @ v

    def out(self, l, attended):
        return dense(self.P, f"layer{l}.attention.output", merge(attended))

    def block(self, l, x, attention):
        c, P = self.c, self.P
        h = x + attention
        W = h.shape[-1]
        eps = c["layerNormEpsilon"]
        if c["layerNorm"]:
            h = F.layer_norm(h, (W,), P[f"layer{l}.norm1.gamma"], P[f"layer{l}.norm1.beta"], eps)
        if c["feedForward"] > 0:
            ffn = dense(P, f"layer{l}.ffn.output", torch.relu(dense(P, f"layer{l}.ffn.hidden", h)))
            h = h + ffn
            if c["layerNorm"]:
                h = F.layer_norm(h, (W,), P[f"layer{l}.norm2.gamma"], P[f"layer{l}.norm2.beta"], eps)
        return h

    # 4. the three layouts
    def encode_rows(self, b, mask_item):
        """Equal-length rows, one example each; the last layer at the target only."""
        at = b["maskAt"]  # [R, T] float
        x = self.tokens(b, at > 0, mask_item)
        L = self.c["layers"]
        for l in range(L):
            if l == L - 1:
                xt = (x * at[..., None]).sum(1)  # [R, W]
                (q,) = self.qkv(l, xt[:, None], "q")
                k, v = self.qkv(l, x, "kv")
                o = self.out(l, self.attend(q, k, v))  # [R, 1, W]
                return self.block(l, xt, o[:, 0])
            q, k, v = self.qkv(l, x)
            x = self.block(l, x, self.out(l, self.attend(q, k, v)))

    def encode_streams(self, b, mask_item):
        """Two-stream attention (unidirectional causal models)."""
        L = self.c["layers"]
        S, n = b["items"].shape
        diag = torch.eye(n)
        off = 1 - diag
        causal = torch.triu(torch.full((n, n), MASKED_LOGIT), 1)
        content = self.tokens(b, None, False)
        query = self.tokens(b, torch.ones(S, n, dtype=torch.bool), mask_item)
        for l in range(L):
            last = l == L - 1
            if last:
                kc, vc = self.qkv(l, content, "kv")
            else:
                qc, kc, vc = self.qkv(l, content)
            qg, kg, vg = self.qkv(l, query)
            cross = (qg @ kc.transpose(-1, -2)) * self.scale  # [S, H, n, n]
            own = (qg * kg).sum(-1, keepdim=True) * self.scale  # [S, H, n, 1]
            w = torch.softmax(cross * off + own * diag + causal, -1)
            own_weight = (w * diag).sum(-1, keepdim=True)
            attended = (w * off) @ vc + own_weight * vg
            next_query = self.block(l, query, self.out(l, attended))
            if not last:
                content = self.block(l, content, self.out(l, self.attend(qc, kc, vc, causal)))
            query = next_query
        return query

    def encode_copies(self, b, mask_item):
        """Masked copies (bidirectional models): copy i of a sequence masks position i."""
        c, P = self.c, self.P
        L, H, K = c["layers"], self.H, self.K
        S, n = b["items"].shape
        true_tokens = self.tokens(b, None, False)
        masked_tokens = self.tokens(b, torch.ones(S, n, dtype=torch.bool), mask_item)
        W = true_tokens.shape[-1]
        q, k, v = self.qkv(0, true_tokens)  # [S, H, n, K]
        qm, km, vm = self.qkv(0, masked_tokens)
        diag = torch.eye(n)
        off = 1 - diag
        if L == 1:
            row = qm @ k.transpose(-1, -2)  # [S, H, n(i), n(l)]
            own = (qm * km).sum(-1, keepdim=True)
            w = torch.softmax((row * off + own * diag) * self.scale, -1)
            own_weight = (w * diag).sum(-1, keepdim=True)
            attended = (w * off) @ v + own_weight * vm
            return self.block(0, masked_tokens, self.out(0, attended))
        i = torch.arange(n)
        I, J, Lk = i[:, None, None], i[None, :, None], i[None, None, :]
        neither = ((J != I) & (Lk != I)).float()
        key_only = ((J != I) & (Lk == I)).float()
        query_only = ((J == I) & (Lk != I)).float()
        both = ((J == I) & (Lk == I)).float()
        key_is_masked = (Lk == I).float().expand(n, n, n)
        every = q @ k.transpose(-1, -2)  # [S, H, n(j), n(l)]
        column = (q @ km.transpose(-1, -2)).transpose(-1, -2)  # [S, H, n(i), n(j)]: q_j . km_i
        row = qm @ k.transpose(-1, -2)  # [S, H, n(i), n(l)]
        own = (qm * km).sum(-1)  # [S, H, n(i)]
        logits = (
            every[:, :, None] * neither
            + column[..., None] * key_only
            + row[:, :, :, None, :] * query_only
            + own[..., None, None] * both
        ) * self.scale  # [S, H, n(i), n(j), n(l)]
        w = torch.softmax(logits, -1)
        on_true = (w.reshape(S, H, n * n, n) @ v).reshape(S, H, n, n, K)
        on_masked = (w * key_is_masked).sum(-1, keepdim=True)
        attended = on_true + on_masked * (vm - v)[:, :, :, None, :]  # [S, H, n(i), n(j), K]
        out = dense(P, "layer0.attention.output", attended.permute(0, 2, 3, 1, 4).reshape(S, n, n, H * K))
        d = diag[..., None]
        copies = true_tokens[:, None] * (1 - d) + masked_tokens[:, :, None] * d  # [S, n(i), n(j), W]
        h = self.block(0, copies, out)
        for l in range(1, L - 1):
            rows = h.reshape(S * n, n, W)
            ql, kl, vl = self.qkv(l, rows)
            h = self.block(l, rows, self.out(l, self.attend(ql, kl, vl))).reshape(S, n, n, W)
        target = (h * d).sum(2)  # [S, n(i), W]
        last = L - 1
        k2 = dense(P, f"layer{last}.attention.key", h).reshape(S, n, n, H, K)
        v2 = dense(P, f"layer{last}.attention.value", h).reshape(S, n, n, H, K)
        q2 = dense(P, f"layer{last}.attention.query", target).reshape(S, n, 1, H, K)
        w2 = torch.softmax((q2 * k2).sum(-1) * self.scale, 2)  # [S, n(i), n(j), H]
        out2 = (w2[..., None] * v2).sum(2).reshape(S, n, H * K)
        return self.block(last, target, dense(P, f"layer{last}.attention.output", out2))

    # 5. heads and loss
    def loss(self, b):
        c, P = self.c, self.P
        encode = {"rows": self.encode_rows, "streams": self.encode_streams, "copies": self.encode_copies}[
            b["layout"]
        ]
        total = 0
        if c["target"] != "value":
            h = encode(b, True)
            h = h.reshape(-1, h.shape[-1])[b["selector"]] if b["layout"] != "rows" else h
            total = total + F.cross_entropy(dense(P, "itemOutput", h), b["item"], reduction="none")
        if c["target"] != "item":
            h = encode(b, False)
            h = h.reshape(-1, h.shape[-1])[b["selector"]] if b["layout"] != "rows" else h
            for i in range(len(c["head"])):
                h = torch.relu(dense(P, f"head{i}", h))
            out = dense(P, "valueOutput", h)[:, 0]
            total = total + family_loss(c["family"], out, b["value"])
        return total.mean()


def family_loss(spec, out, y):
    name = spec["name"]
    if name == "gaussian":
        return (y - out) ** 2  # eta = out / variance, mean = eta * variance = out
    if name == "poisson-shifted-count":
        lam = torch.exp(out)
        return lam - (y - 1) * torch.log(lam + 1e-8)
    if name == "poisson-shifted-rate":
        eta = F.softplus(out)
        return torch.exp(eta) - y * eta
    if name == "poisson":
        return torch.exp(out) - y * out
    raise SystemExit(f"peer_torch.py: the family {name!r} is not implemented in the peer")


def batch_of(chunk):
    R, T = chunk["rows"], chunk["length"]
    b = {
        "layout": chunk["layout"],
        "items": torch.tensor(chunk["items"], dtype=torch.long).reshape(R, T),
        "item": torch.tensor(chunk["labelItems"], dtype=torch.long),
    }
    if "values" in chunk:
        b["values"] = torch.tensor(chunk["values"], dtype=torch.float32).reshape(R, T)
    if "lags" in chunk:
        b["lags"] = torch.tensor(chunk["lags"], dtype=torch.long).reshape(R, T)
    if "labelValues" in chunk:
        b["value"] = torch.tensor(chunk["labelValues"], dtype=torch.float32)
    if chunk["layout"] == "rows":
        at = torch.zeros(R, T)
        at[torch.arange(R), torch.tensor(chunk["target"], dtype=torch.long)] = 1
        b["maskAt"] = at
    else:
        b["selector"] = torch.tensor(chunk["target"], dtype=torch.long)
    return b


def step_loss(model, step):
    """The mean loss of a step: its chunks' mean losses weighted by their share of the examples."""
    total = 0
    for chunk in step["chunks"]:
        total = total + model.loss(chunk["batch"]) * (chunk["examples"] / step["count"])
    return total


def blas_library():
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return ", ".join(sorted(libs)) or "none found"


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: peer_torch.py EXCHANGE.json")
    threads = int(os.environ.get("PEER_THREADS", "1"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with open(sys.argv[1]) as f:
        ex = json.load(f)
    config = ex["config"]
    initial = {n: torch.tensor(p["data"], dtype=torch.float32).reshape(p["shape"]) for n, p in ex["params"].items()}
    features = None
    if config["itemEmbedding"]["kind"] == "mlp":
        features = torch.tensor(config["itemEmbedding"]["features"], dtype=torch.float32)
    steps = ex["steps"]
    for step in steps:
        for chunk in step["chunks"]:
            chunk["batch"] = batch_of(chunk)

    def fresh():
        return {n: t.clone().requires_grad_() for n, t in initial.items()}

    # 1. The same computation: loss and gradients of the first step from the package's weights.
    P = fresh()
    model = Efa(config, P, features)
    loss = step_loss(model, steps[0])
    loss.backward()
    check = ex["check"]
    loss_diff = abs(loss.item() - check["loss"]) / max(abs(check["loss"]), 1e-12)
    grad_diff = 0.0
    grad_scale = 0.0
    for name, g in check["grads"].items():
        ours = torch.tensor(g, dtype=torch.float32).reshape(P[name].shape)
        theirs = P[name].grad if P[name].grad is not None else torch.zeros_like(ours)
        grad_diff = max(grad_diff, (ours - theirs).abs().max().item())
        grad_scale = max(grad_scale, ours.abs().max().item())

    opt_args = {"lr": ex["learningRate"], "betas": (0.9, 0.999), "eps": 1e-7}

    def run(P, steps_to_run):
        model = Efa(config, P, features)
        opt = torch.optim.Adam(list(P.values()), **opt_args)
        loss_sum = 0.0
        for step in steps_to_run:
            opt.zero_grad(set_to_none=True)
            loss = step_loss(model, step)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * step["count"]
        return loss_sum

    # 2. Warm up on a copy, then time one epoch from the package's weights.
    run(fresh(), steps[: min(3, len(steps))])
    P = fresh()
    start = time.perf_counter()
    loss_sum = run(P, steps)
    seconds = time.perf_counter() - start
    predictions = sum(s["count"] for s in steps)
    print(
        json.dumps(
            {
                "name": ex["name"],
                "predictionsPerSecond": predictions / seconds,
                "seconds": seconds,
                "steps": len(steps),
                "predictions": predictions,
                "trainLoss": loss_sum / predictions,
                "check": {"lossRelative": loss_diff, "gradMaxAbs": grad_diff, "gradScale": grad_scale},
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "blas": blas_library(),
                "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
