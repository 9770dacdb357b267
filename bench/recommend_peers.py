#!/usr/bin/env python3
"""Peers for `bodega eval recommendations`: trains implicit (CosineRecommender, BM25Recommender,
AlternatingLeastSquares) and rusket (EASE, ALS) on the training split exported by
`bodega eval recommendations --export-split DIR`, and writes each model's top-10 for every
scored customer as DIR/peer-<name>.json ({"model", "train_seconds", "recommendations"}), which
`bodega eval recommendations --score-lists` scores with Bodega's own metrics.

Every model sees the same customer x product matrix (number of training lines per pair), and
already-bought products are NOT filtered (repeat purchases count, as for Bodega's models),
except with --exclude-seen (basket completion: a basket's own items are never recommended).
A plain all-time popularity list is written too, as a check of the scorer against the issue's
reference figure."""
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def main(directory, exclude_seen=False):
    customers, products = {}, {}
    rows, cols = [], []
    with open(os.path.join(directory, "train.csv")) as f:
        next(f)
        for line in f:
            c, p, _order, _t = line.rstrip("\n").split(",")
            rows.append(customers.setdefault(c, len(customers)))
            cols.append(products.setdefault(p, len(products)))
    data = np.ones(len(rows), dtype=np.float32)
    user_items = sp.csr_matrix((data, (rows, cols)), shape=(len(customers), len(products)))
    user_items = user_items.tocsr()
    user_items.sum_duplicates()
    names = [None] * len(products)
    for p, i in products.items():
        names[i] = p
    with open(os.path.join(directory, "users.txt")) as f:
        scored = [line.strip() for line in f if line.strip()]
    uids = np.array([customers[c] for c in scored], dtype=np.int32)
    print(f"{user_items.shape[0]} customers x {user_items.shape[1]} products, {user_items.nnz} pairs; "
          f"{len(scored)} scored", file=sys.stderr)

    def write(model, seconds, lists):
        out = {"model": model, "train_seconds": seconds,
               "recommendations": {c: [names[i] for i in items] for c, items in zip(scored, lists)}}
        path = os.path.join(directory, f"peer-{model}.json")
        with open(path, "w") as f:
            json.dump(out, f)
        print(f"{model}: trained in {seconds:.3f} s -> {path}", file=sys.stderr)

    counts = np.asarray(user_items.sum(axis=0)).ravel()
    order = list(np.argsort(-counts, kind="stable"))
    if exclude_seen:
        lists = [[i for i in order[:40] if user_items[u, i] == 0][:10] for u in uids]
    else:
        lists = [order[:10]] * len(scored)
    write("popular-alltime", 0.0, lists)

    import implicit
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    for name, make in [
        ("implicit-cosine", lambda: CosineRecommender()),
        ("implicit-bm25", lambda: BM25Recommender()),
        ("implicit-als", lambda: AlternatingLeastSquares(random_state=42)),
    ]:
        model = make()
        with threadpool_limits(1, "blas"):
            start = time.perf_counter()
            model.fit(user_items, show_progress=False)
            seconds = time.perf_counter() - start
            ids, _ = model.recommend(uids, user_items[uids].tocsr(), N=10, filter_already_liked_items=exclude_seen)
        write(name, seconds, [list(r) for r in ids])

    import rusket
    for name, make in [
        ("rusket-ease", lambda: rusket.EASE()),
        ("rusket-als", lambda: rusket.ALS()),
    ]:
        model = make()
        start = time.perf_counter()
        model.fit(user_items)
        seconds = time.perf_counter() - start
        lists = []
        for u in uids:
            ids, _ = model.recommend_items(int(u), n=10, exclude_seen=exclude_seen)
            lists.append([int(i) for i in ids])
        write(name, seconds, lists)


if __name__ == "__main__":
    main(sys.argv[1], "--exclude-seen" in sys.argv[2:])
