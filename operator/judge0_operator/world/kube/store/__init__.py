"""The emulator's object store: ``KubeStore`` (``kube_store``) assembled from its layers —
``core`` (kinds, reads, commits, watches), ``writes`` (create, update, patch, admission),
``deletes`` — with the API's errors (``errors``), patch formats (``patches``) and watch
streams (``watch``)."""
