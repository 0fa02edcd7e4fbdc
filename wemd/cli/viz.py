"""See the datasets: ``wemd map``, ``wemd explore`` and ``wemd search`` (thesis ch. 2)."""

from __future__ import annotations

import argparse

from wemd.cli._args import add_data_options


def _data_options(p: argparse.ArgumentParser, split: str) -> None:
    p.add_argument("--split", default=split, help=f"split to use, or 'all' (default: {split})")
    add_data_options(p, ("local", "synthetic"))
    p.add_argument("--view", default="amplitude", choices=("amplitude", "phase", "real", "imaginary"),
                   help="what a wavefunction shows (default: amplitude)")


def _embedding_options(p: argparse.ArgumentParser, default: str) -> None:
    auto = ("auto",) if default == "auto" else ()
    p.add_argument("--embedding", default=default, choices=auto + ("pca", "vae"),
                   help="PCA (50 components) or the paper's VAE"
                        + (", or auto: a VAE index already cached for this data, else PCA"
                           if auto else "") + f" (default: {default})")
    p.add_argument("--iterations", type=int, default=None,
                   help="VAE training iterations, with --embedding vae (default: 1000, tens of "
                        "minutes on a CPU; the paper ran 600000)")
    p.add_argument("--paper-schedule", action="store_true",
                   help="train the VAE with the paper's full schedule (hours on a GPU)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the embedding (default: 0)")


def _map_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="a 96x96 dataset, e.g. stem_96x96")
    _data_options(p, "train")
    _embedding_options(p, "pca")
    p.add_argument("--sigma-aware", action="store_true",
                   help="tSNE with the paper's sigma-aware affinities (needs --embedding vae)")
    p.add_argument("--limit", type=int, default=None, help="map this many random items only")
    p.add_argument("--tsne-iterations", type=int, default=None,
                   help="tSNE iterations after early exaggeration (default: 750; "
                        "--paper-schedule: 10000)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("map", help="tSNE map of a 96x96 dataset as a PNG like the paper's figures")
    _map_options(p)
    p.add_argument("--out", required=True, help="PNG to write (a .json and .npz go beside it)")
    p.add_argument("--compare", action="store_true",
                   help="also score PCA, VAE and sigma-aware VAE maps of the same items")
    p.set_defaults(func=_map)

    p = sub.add_parser("explore", help="static interactive page: hover points to see images")
    _map_options(p)
    p.add_argument("--out", required=True, help="folder for index.html and thumbs/")
    p.set_defaults(func=_explore)

    p = sub.add_parser("search", help="the dataset images nearest a query image")
    p.add_argument("image", help="query: TIFF, PNG/JPEG or .npy of any size")
    p.add_argument("--dataset", default="stem_96x96", help="a 96x96 dataset (default: stem_96x96)")
    p.add_argument("-k", type=int, default=5, help="how many hits (default: 5)")
    p.add_argument("--out", default=None, help="PNG of the query and its hits")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached index")
    _data_options(p, "all")
    _embedding_options(p, "auto")
    p.set_defaults(func=_search)


def _vae_config(args: argparse.Namespace):
    from dataclasses import replace

    from wemd.viz.vae import PAPER_SCHEDULE, VAEConfig

    cfg = PAPER_SCHEDULE if args.paper_schedule else VAEConfig()
    if args.iterations is not None:
        cfg = replace(cfg, iterations=args.iterations)
    return replace(cfg, seed=args.seed)


def _map_kwargs(args: argparse.Namespace) -> dict:
    from wemd.viz.tsne import PAPER_ITERATIONS

    n_iter = args.tsne_iterations or (PAPER_ITERATIONS if args.paper_schedule else 750)
    return dict(sigma_aware=args.sigma_aware, view=args.view, limit=args.limit,
                vae=_vae_config(args), n_iter=n_iter, seed=args.seed)


def _load(args: argparse.Namespace, name: str):
    import wemd

    return wemd.load(name, args.split, root=args.root, source=args.source)


def _map(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wemd.viz.maps import make_map

    dmap = make_map(_load(args, args.name), Path(args.out), args.embedding, **_map_kwargs(args))
    q = dmap.quality
    print(f"{dmap.label}\n  trustworthiness {q['trustworthiness']:.3f}, k-NN preservation "
          f"{q['knn_preservation']:.3f} (k = {q['k']}, {q['n_scored']} points vs scaled pixels)")
    print(f"wrote {args.out} (+ .json, .npz)")
    if args.compare:
        _compare(args, dmap)
    return 0


def _compare(args: argparse.Namespace, dmap) -> None:
    """Score all three maps of the items just mapped (against min-max scaled pixels)."""
    from wemd.viz.embed import load_images
    from wemd.viz.tsne import compare

    kw = _map_kwargs(args)
    images = load_images(_load(args, args.name), args.view, dmap.positions, progress=False)
    scores = compare(images, vae=kw["vae"], n_iter=kw["n_iter"], seed=args.seed)
    tag = "" if dmap.provenance == "real" else f"  [{dmap.provenance} data]"
    print(f"{'map':<16}{'trustworthiness':>17}{'k-NN preservation':>19}{tag}")
    for name, q in scores.items():
        print(f"{name:<16}{q['trustworthiness']:>17.3f}{q['knn_preservation']:>19.3f}")


def _explore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from wemd.viz.explorer import build_explorer

    page = build_explorer(_load(args, args.name), Path(args.out), args.embedding,
                          **_map_kwargs(args))
    print(f"wrote {page}; open it in a browser (no network needed)")
    return 0


_HOW = {"pca": "PCA; --embedding vae searches by the paper's VAE (trained once, tens of minutes "
               "on a CPU; later searches use it)",
        "vae": "the paper's VAE (a cached index is used until --rebuild; --embedding pca for PCA)"}


def _search(args: argparse.Namespace) -> int:
    from wemd.viz.search import search

    hits = search(args.image, args.dataset, args.k, split=args.split, method=args.embedding,
                  view=args.view, root=args.root, source=args.source, out=args.out,
                  vae=_vae_config(args), rebuild=args.rebuild)
    for h in hits:
        print(f"{h.rank:>3}  {h.item_id:<40}  {h.split_item:<12}  distance {h.distance:.4g}  "
              f"({h.metadata.get('provenance', '')})")
    print(f"nearest by {_HOW[hits[0].method]}")
    if args.out:
        print(f"wrote {args.out}")
    return 0
