"""The Kubernetes operator of the SubsidyProgram custom resource (kopf; issue 9).

Pure parts (`resource`, `lifecycle`, `manifests`, `certificate`) build everything it makes;
the imperative shell (`handlers`, `kube`, `erasure`, `main`) talks to Kubernetes, Vault and
the services.
"""
