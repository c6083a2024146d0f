"""``crowdmix rank-workers``: rank annotators by pairwise mutual information, without truth."""

from __future__ import annotations

import argparse
import sys
import time

from ..answers import CrowdAnswers
from ..exceptions import InputError
from ..io import check_output_path, write_table_atomic

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rank-workers",
        help="rank workers by pairwise mutual information (no ground truth needed)",
        description=(
            "Read crowd answers (one row per answer: task, worker, label; CSV, TSV or Parquet) "
            "and write one row per worker, most informative first: worker, rank, score, "
            "n_answers, n_partners, support, skill, sum_mi, pooled_mi (Zhao & Zucker 2017)."
        ),
    )
    p.add_argument("input", help="answers file (.csv, .tsv or .parquet) in long format")
    p.add_argument("-o", "--output", required=True, help="where to write the ranking")
    p.add_argument("--score", default="skill", choices=["skill", "pooled", "sum"],
                   help="skill: one-coin skill from the pooled MI through g_K (best reliability "
                        "ranking); pooled: MI with the pooled co-labellers; sum: the authors' sum "
                        "of pairwise MI (selects experts). Default: skill")
    p.add_argument("--correction", default="miller-madow", choices=["miller-madow", "none"],
                   help="small-overlap bias correction of each MI (default: miller-madow)")
    p.add_argument("--min-overlap", type=int, default=1,
                   help="ignore worker pairs sharing fewer tasks (default: 1)")
    p.add_argument("--missing", default="skip", choices=["skip", "category"],
                   help="skip: MI on the tasks both answered; category: 'missing' as one more answer")
    p.add_argument("--matrix", default=None, metavar="OUTPUT2",
                   help="also write the workers x workers MI matrix here")
    p.add_argument("--task-col", default="task", help="name of the task column (default: task)")
    p.add_argument("--worker-col", default="worker", help="name of the worker column (default: worker)")
    p.add_argument("--label-col", default="label", help="name of the label column (default: label)")
    p.add_argument("--sep", default=None, help="field separator (default: from the extension)")
    p.add_argument("--duplicates", default="error", choices=["error", "first", "last"],
                   help="several answers by one worker to one task: fail, keep first or keep last")
    p.add_argument("--progress", action="store_true", help="report timings on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..mutual_information import pairwise_mutual_information, rank_workers

    check_output_path(args.output, [args.input])
    if args.matrix is not None:
        check_output_path(args.matrix, [args.input])
        if args.matrix == args.output:
            raise InputError("--matrix and --output name the same file; give two paths")
    if args.min_overlap < 1:
        raise InputError(f"--min-overlap must be at least 1, got {args.min_overlap}")
    started = time.perf_counter()
    answers = CrowdAnswers.read(
        args.input, task_col=args.task_col, worker_col=args.worker_col, label_col=args.label_col,
        duplicates=args.duplicates, sep=args.sep,
    )
    options = {"correction": args.correction, "min_overlap": args.min_overlap, "missing": args.missing}
    ranking = rank_workers(answers, score=args.score, **options)
    write_table_atomic(ranking.reset_index(), args.output)
    if args.matrix is not None:
        matrix = pairwise_mutual_information(answers, **options)
        write_table_atomic(matrix, args.matrix, index=True)
    if args.progress:
        print(
            f"crowdmix rank-workers: {answers.n_workers:,} workers, {answers.n_answers:,} answers, "
            f"done in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    return 0
