"""dockyard-runtime: our OCI runtime, a separate program with runc's command line.

Nothing imports this package; it is reached only through its command line, so runc and crun are
drop-in replacements. It reads a bundle and knows nothing of images, networks or Docker.
"""
