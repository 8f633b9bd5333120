"""The commands, one module per group of them, each exporting ``SPECS`` (name -> ``base.Spec``).

``container`` (start, stop, restart, kill, rm, wait, logs, top, attach, container inspect),
``listing`` (ps), ``run`` (run, create; flags in ``runflags``, the create body in ``runconfig``),
``execute`` (exec), ``image`` (pull, rmi, tag, save, load, import, image inspect), ``imagelist``
(images, history), ``system`` (version, info, inspect). Shared: ``base`` (the invocation,
usage texts, exit statuses), ``inspection`` (inspect output), ``reference`` (image names),
``autostart`` (starting dockyardd). Modules are imported only when their command runs.
"""

from __future__ import annotations

__all__: list[str] = []
