# PyInstaller runtime hook (packaging/restora.spec): runs in the bundle before Restora.
# Started with no locale at all (`env -i`, some service managers), Qt warns on stderr that
# "C" is not UTF-8 and switches to C.UTF-8 itself; choose C.UTF-8 up front so file names
# with accents work and the warning does not mix into the CLI's or --self-test's output.
import os

if not any(os.environ.get(name) for name in ("LC_ALL", "LC_CTYPE", "LANG")):
    os.environ["LC_CTYPE"] = "C.UTF-8"
