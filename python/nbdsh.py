'''nbdsh: an interactive Python shell (or a script runner) with the nbd
module imported and a handle called h; see nbdsh(1).'''

import argparse
import os
import sys
import traceback

import nbd

BANNER = '''
nbdsh: a Python shell for Network Block Device (NBD) servers.

The module 'nbd' is imported%s.  Type help(nbd) for the API.
'''


class _InOrder(argparse.Action):
    '''Keep -u/--uri, -c/--command, --base-allocation and --opt-mode in
    the order they were given, since each acts on the handle the earlier
    ones left (as with libnbd's nbdsh, --opt-mode after -u is too late).'''

    def __call__(self, parser, namespace, value, option_string=None):
        namespace.snippets.append((self.dest, value))


def _parser():
    p = argparse.ArgumentParser(
        prog='nbdsh', description='Network Block Device (NBD) shell',
        epilog='Please read the nbdsh(1) manual page for full usage.')
    p.set_defaults(snippets=[])
    p.add_argument('-b', '--base-allocation', action=_InOrder, nargs=0,
                   dest='base_allocation',
                   help='request the "base:allocation" meta context')
    p.add_argument('-c', '--command', action=_InOrder, dest='command',
                   help='run a Python statement (may be used multiple '
                   'times); "-" reads it from standard input')
    p.add_argument('-n', action='store_true', dest='no_handle',
                   help="do not create the implicit handle 'h'")
    p.add_argument('--opt-mode', action=_InOrder, nargs=0, dest='opt_mode',
                   help='request opt mode during connection')
    p.add_argument('-u', '--uri', '--connect', action=_InOrder, dest='uri',
                   metavar='URI', help='connect to NBD URI')
    p.add_argument('-v', '--verbose', action='store_true',
                   help='enable verbose debugging')
    p.add_argument('-V', '--version', action='store_true',
                   help='display version information')
    # For shell completion, as libnbd's nbdsh has them: not in --help.
    p.add_argument('--short-options', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--long-options', action='store_true', help=argparse.SUPPRESS)
    return p


def _list_options(parser, long):
    """The options --short-options or --long-options print, sorted, one a
    line; the hidden ones and --help are left out."""
    names = [o for a in parser._actions if a.help is not argparse.SUPPRESS
             and not isinstance(a, argparse._HelpAction)
             for o in a.option_strings if o.startswith("--") == long]
    print("\n".join(sorted(names)))


def _version():
    h = nbd.NBD()
    version = h.get_version()
    print("nbdsh %s" % version)
    print("%s %s" % (h.get_package_name(), version))
    h.close()


def shell():
    parser = _parser()
    args = parser.parse_args()
    if args.short_options or args.long_options:
        _list_options(parser, args.long_options)
        sys.exit(0)
    if args.version:
        _version()
        sys.exit(0)
    uses_handle = any(kind != 'command' for kind, _ in args.snippets)
    if args.no_handle and uses_handle:
        print("error: -n option cannot be used with --base-allocation, "
              "--opt-mode or --uri", file=sys.stderr)
        sys.exit(1)
    if args.verbose:
        # Also makes handles the commands create print debug messages.
        os.environ["LIBNBD_DEBUG"] = "1"

    # Commands find os and sys there without importing them, as they do
    # in libnbd's nbdsh.
    env = {'nbd': nbd, 'os': os, 'sys': sys, '__name__': '__main__'}
    if not args.no_handle:
        h = nbd.NBD()
        h.set_handle_name("nbdsh")
        if args.verbose:
            h.set_debug(True)
        env['h'] = h

    def run(kind, value):
        if kind == 'uri':
            env['h'].connect_uri(value)
        elif kind == 'base_allocation':
            env['h'].add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
        elif kind == 'opt_mode':
            env['h'].set_opt_mode(True)
        else:
            if value == '-':
                value = sys.stdin.read()
            exec(compile(value, '<command>', 'exec'), env, env)

    if not any(kind == 'command' for kind, _ in args.snippets):
        for kind, value in args.snippets:
            _run_reporting_errors(run, kind, value)
        _interact(env)
    else:
        for kind, value in args.snippets:
            _run_reporting_errors(run, kind, value)


def _run_reporting_errors(run, kind, value):
    '''An nbd.Error ends nbdsh with status 1 and its message, or its
    traceback when debugging is on (-v or LIBNBD_DEBUG=1); other
    exceptions keep their traceback.'''
    try:
        run(kind, value)
    except nbd.Error as ex:
        if nbd.NBD().get_debug():
            traceback.print_exc()
        else:
            print("nbdsh: command line script failed: %s" % ex.string,
                  file=sys.stderr)
        sys.exit(1)


def _interact(env):
    import code
    try:
        import readline
        import rlcompleter
        readline.set_completer(rlcompleter.Completer(env).complete)
        readline.parse_and_bind("tab: complete")
    except ImportError:
        pass
    sys.ps1 = "nbd> "
    handle = ", and there is a handle called 'h'" if 'h' in env else ""
    code.interact(banner=BANNER % handle, local=env, exitmsg='')


if __name__ == '__main__':
    shell()
