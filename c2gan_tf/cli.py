"""The ``c2gan`` command line: thin sub-commands that parse arguments, call the API and report."""

import argparse
import sys


def _demo(args):
    from .demo import run_demo
    run_demo(args.outdir, ndim=args.ndim, epochs=args.epochs, steps_per_epoch=args.steps, seed=args.seed,
             tiny=args.tiny)


def build_parser():
    parser = argparse.ArgumentParser(prog='c2gan', description='Unsupervised image restoration with c2GAN.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)

    p = sub.add_parser('demo', help='train a small model on synthetic data and restore a test image',
                       description='Generate synthetic unpaired low- and high-SNR images, train a small c2GAN '
                                   '(about two minutes on a CPU with the defaults), restore a held-out test image '
                                   'and write it with a before/after figure and metrics against ground truth.')
    p.add_argument('--outdir', default='c2gan_demo', help='output folder (default: %(default)s)')
    p.add_argument('--ndim', type=int, choices=(2, 3), default=2, help='2D or 3D data (default: %(default)s)')
    p.add_argument('--epochs', type=int, default=8, help='training epochs (default: %(default)s)')
    p.add_argument('--steps', type=int, default=100, help='steps per epoch (default: %(default)s)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    p.add_argument('--tiny', action='store_true', help='tiny network and images (a quick check)')
    p.set_defaults(func=_demo)
    return parser


def main(argv=None):
    """Entry point of ``c2gan``: returns 0 on success, 1 with one line on stderr for bad input."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, OSError) as e:
        print('c2gan %s: error: %s' % (args.command, e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
