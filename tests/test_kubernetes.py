"""The Kubernetes manifests (deploy/kubernetes): every overlay renders, offline, into objects
that run the syncer as the README says: two replicas on PostgreSQL (one active, one
standby), probes on /healthz that never restart or unready a standby, a PodDisruptionBudget,
a metrics Service a ServiceMonitor selects, non-root with a read-only root and no
capabilities, secrets from a Secret, and a config the syncer itself accepts.

Rendering uses `kustomize build` or `kubectl kustomize` when one with kustomize 4.1 or
later is installed; otherwise `render` below, a small kustomize for the features these
manifests use (and an error for any other). Where both exist they must agree.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from syncer import config as config_mod
from syncer.metrics import Health, Metrics, serve

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.parent.name for p in (KUBE / "overlays").glob("*/kustomization.yaml"))
WORKSPACE_LABEL = "syncer.absmartly.com/workspace"
SECRETS = ("INTERCOM_ACCESS_TOKEN", "ABSMARTLY_API_KEY", "SYNCER_DB_PASSWORD")
Obj = dict[str, Any]


# -- rendering ------------------------------------------------------------------------------


def _version(text: str) -> tuple[int, ...]:
    found = re.search(r"v?(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else (0,)


@functools.cache
def kustomize_command() -> list[str] | None:
    """A kustomize that knows `labels` (4.1+): the standalone binary or kubectl's."""
    if binary := shutil.which("kustomize"):
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=20)
        if _version(out.stdout) >= (4, 1):
            return [binary, "build"]
    if kubectl := shutil.which("kubectl"):
        out = subprocess.run(
            [kubectl, "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        try:
            version = json.loads(out.stdout).get("kustomizeVersion", "")
        except json.JSONDecodeError:
            version = ""
        if _version(version) >= (4, 1):
            return [kubectl, "kustomize"]
    return None


def kustomized(folder: Path) -> list[Obj]:
    command = kustomize_command()
    assert command is not None
    out = subprocess.run(
        [*command, str(folder)], capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


KNOWN_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "components",
    "namespace",
    "namePrefix",
    "labels",
    "configMapGenerator",
    "images",
}


def render(folder: Path) -> list[Obj]:
    """What `kustomize build folder` gives for these manifests, generated names without
    their hash suffix. Transformers run in kustomize's order: resources (each built on its
    own), components, generators, then name prefix, namespace, labels, images."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(spec) - KNOWN_KEYS
    assert not unknown, f"{folder}: the fallback renderer does not know {sorted(unknown)}"
    objects: list[Obj] = []
    for entry in [*spec.get("resources", []), *spec.get("components", [])]:
        path = folder / entry
        if path.is_dir():
            objects += render(path)
        else:
            docs = yaml.safe_load_all(path.read_text(encoding="utf-8"))
            objects += [doc for doc in docs if doc]
    for generator in spec.get("configMapGenerator", []):
        assert set(generator) <= {"name", "behavior", "files"}, generator
        data = {
            Path(file).name: (folder / file).read_text(encoding="utf-8")
            for file in generator.get("files", [])
        }
        behavior = generator.get("behavior", "create")
        existing = [
            o for o in objects if o["kind"] == "ConfigMap" and o.get("_origin") == generator["name"]
        ]
        if behavior == "replace":
            assert len(existing) == 1, f"no ConfigMap {generator['name']} to replace"
            existing[0]["data"] = data
        else:
            assert behavior == "create" and not existing, generator
            objects.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": generator["name"]},
                    "data": data,
                    "_origin": generator["name"],
                }
            )
    if prefix := spec.get("namePrefix"):
        for obj in objects:
            old = obj["metadata"]["name"]
            obj["metadata"]["name"] = prefix + old
            if obj["kind"] == "ConfigMap":
                for volume in _volumes(objects):
                    if volume.get("configMap", {}).get("name") == old:
                        volume["configMap"]["name"] = prefix + old
    if namespace := spec.get("namespace"):
        for obj in objects:
            obj["metadata"]["namespace"] = namespace
    for group in spec.get("labels", []):
        assert set(group) <= {"pairs", "includeSelectors"}, group
        for obj in objects:
            for place in _label_places(obj, group.get("includeSelectors", False)):
                place.update(group["pairs"])
    for image in spec.get("images", []):
        for container in _containers(objects):
            if container["image"].split(":")[0] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    return objects


def _pod_specs(objects: list[Obj]) -> Iterator[Obj]:
    for obj in objects:
        if obj["kind"] == "Deployment":
            yield obj["spec"]["template"]["spec"]


def _volumes(objects: list[Obj]) -> Iterator[Obj]:
    for pod in _pod_specs(objects):
        yield from pod.get("volumes", [])


def _containers(objects: list[Obj]) -> Iterator[Obj]:
    for pod in _pod_specs(objects):
        yield from pod["containers"]


def _label_places(obj: Obj, selectors: bool) -> Iterator[dict[str, str]]:
    """Where kustomize's `labels` go: metadata, and with includeSelectors the selectors and
    the pod template (kustomize's commonLabels field specs, for these kinds)."""
    yield obj["metadata"].setdefault("labels", {})
    if not selectors:
        return
    spec = obj.get("spec", {})
    if obj["kind"] == "Deployment":
        yield spec["selector"].setdefault("matchLabels", {})
        yield spec["template"]["metadata"].setdefault("labels", {})
        for constraint in spec["template"]["spec"].get("topologySpreadConstraints", []):
            yield constraint.setdefault("labelSelector", {}).setdefault("matchLabels", {})
    elif obj["kind"] == "Service":
        yield spec.setdefault("selector", {})
    elif obj["kind"] == "PodDisruptionBudget":
        yield spec["selector"].setdefault("matchLabels", {})
    elif obj["kind"] == "NetworkPolicy":
        yield spec["podSelector"].setdefault("matchLabels", {})
        # kustomize labels the peers' pod selectors too: the policy has none (it would
        # then select only the syncer's own pods in the other namespace).
        for rule in [*spec.get("ingress", []), *spec.get("egress", [])]:
            for peer in [*rule.get("from", []), *rule.get("to", [])]:
                assert "podSelector" not in peer, peer


def without_hash(objects: list[Obj]) -> list[Obj]:
    """kustomize's output with the hash suffix of generated ConfigMaps taken off."""
    objects = copy.deepcopy(objects)
    strip = re.compile(r"-[a-z0-9]{10}$")
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            obj["metadata"]["name"] = strip.sub("", obj["metadata"]["name"])
    for volume in _volumes(objects):
        if "configMap" in volume:
            volume["configMap"]["name"] = strip.sub("", volume["configMap"]["name"])
    return objects


def by_key(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


_rendered: dict[str, list[Obj]] = {}


def rendered(overlay: str) -> list[Obj]:
    """The overlay's objects, by kustomize when there is one, else by `render`."""
    if overlay not in _rendered:
        folder = KUBE / "overlays" / overlay
        if kustomize_command() is not None:
            _rendered[overlay] = kustomized(folder)
        else:
            objects = render(folder)
            for obj in objects:
                obj.pop("_origin", None)
            _rendered[overlay] = objects
    return _rendered[overlay]


def one(objects: list[Obj], kind: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} objects of kind {kind}"
    return found[0]


def subset(small: dict[str, str], big: dict[str, str]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


def overlay_config(objects: list[Obj]) -> tuple[Obj, config_mod.Config]:
    """The ConfigMap the Deployment mounts, and its config.toml as the syncer reads it."""
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    names = [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v]
    assert len(names) == 1
    maps = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == names[0]]
    assert len(maps) == 1, f"the Deployment mounts ConfigMap {names[0]}, which is not rendered"
    raw = tomllib.loads(maps[0]["data"]["config.toml"])
    env = dict.fromkeys(SECRETS, "x" * 16)
    parsed = config_mod.parse(raw, secrets=("intercom", "absmartly"), env=env)
    return maps[0], parsed


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    """The daemon's own metrics server, as a standby that has waited a day for the lease, as
    an active instance whose cycles have failed for a day (an Intercom outage: each starts
    and ends, failing), and as a hung one (no cycle has started or ended for a day): state
    -> its base URL."""
    clock = [0.0]
    standby, outage, hung = (Health(10, clock=lambda: clock[0]) for _ in range(3))
    standby.standby = True
    outage.last_cycle = hung.last_cycle = 0.0
    clock[0] = 86_400.0
    outage.moved()  # its last failed cycle just ended
    servers = {
        "standby": serve("127.0.0.1:0", Metrics(), standby),
        "outage": serve("127.0.0.1:0", Metrics(), outage),
        "hung": serve("127.0.0.1:0", Metrics(), hung),
    }
    try:
        yield {state: f"http://127.0.0.1:{s.server_address[1]}" for state, s in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def answer(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as got:  # noqa: S310 - loopback
            return got.status, got.read()
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read()


def test_there_are_two_overlays() -> None:
    assert len(OVERLAYS) >= 2, OVERLAYS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_five_objects(overlay: str) -> None:
    objects = rendered(overlay)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service"]
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert len(namespaces) == 1 and None not in namespaces, namespaces
    for obj in objects:
        assert obj["apiVersion"] and obj["metadata"]["name"].startswith(f"{overlay}-")
        assert obj["metadata"]["labels"][WORKSPACE_LABEL] == overlay


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_fallback_renderer_agrees_with_kustomize(overlay: str) -> None:
    if kustomize_command() is None:
        pytest.skip("no kustomize 4.1+ to compare the fallback renderer with")
    ours = render(KUBE / "overlays" / overlay)
    for obj in ours:
        obj.pop("_origin", None)
    assert by_key(ours) == by_key(without_hash(rendered(overlay)))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_two_replicas_on_postgresql_with_secrets(overlay: str) -> None:
    objects = rendered(overlay)
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert subset(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    assert spec["selector"]["matchLabels"][WORKSPACE_LABEL] == overlay
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-1] == "run"
    _, config = overlay_config(objects)
    # Two replicas share one database only on PostgreSQL, whose lease makes one a standby.
    assert config.sync.database.startswith("postgresql+psycopg://")
    env = {e["name"]: e for e in container["env"]}
    wanted = {config.intercom.token_env, config.absmartly.api_key_env, "SYNCER_DB_PASSWORD"}
    assert wanted <= set(env)
    for name in wanted:
        assert "value" not in env[name], f"{name} is written in the manifest"
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
    # SIGTERM exits within 10 s (the syncer handles it from its first moment, as PID 1
    # too): the grace period leaves room.
    assert pod["terminationGracePeriodSeconds"] >= 15
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_is_mounted_read_only_where_the_command_reads_it(overlay: str) -> None:
    objects = rendered(overlay)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    path = Path(args[args.index("--config") + 1])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    mount = mounts[str(path.parent)]
    assert mount["readOnly"] is True and "configMap" in volumes[mount["name"]]
    config_map, _ = overlay_config(objects)
    assert path.name in config_map["data"]
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # the root filesystem is read-only


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_never_restart_a_standby_or_for_an_outage_the_process_reports(
    overlay: str, served: dict[str, str]
) -> None:
    """Readiness asks /healthz (is it doing its job, and why not); startup asks whether the
    process answers, liveness whether its cycles still move. Checked against the daemon's
    own server: during an outage /healthz says 503 and why, while what startup and liveness
    ask still answers 200; a standby answers 200 to both however long it has waited; a hung
    process fails liveness."""
    objects = rendered(overlay)
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    _, config = overlay_config(objects)
    assert config.metrics_listen is not None
    host, _, port = config.metrics_listen.rpartition(":")
    # The kubelet and Prometheus reach it from outside the pod.
    assert host == "0.0.0.0" and int(port) == ports["metrics"]  # noqa: S104
    probes = {kind: container[kind] for kind in ("livenessProbe", "readinessProbe")}
    probes["startupProbe"] = container.get("startupProbe", probes["livenessProbe"])
    for probe in probes.values():
        assert probe["httpGet"]["port"] in (ports["metrics"], "metrics")
    assert probes["readinessProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("livenessProbe", "startupProbe"):
        path = probes[kind]["httpGet"]["path"]
        assert answer(served["outage"] + path)[0] == 200, f"{kind} would restart in an outage"
        assert answer(served["standby"] + path)[0] == 200, f"{kind} would restart a standby"
    liveness_path = probes["livenessProbe"]["httpGet"]["path"]
    assert answer(served["hung"] + liveness_path)[0] == 503, "liveness would not restart it hung"
    status, why = answer(served["outage"] + "/healthz")
    assert status == 503 and b"no completed cycle" in why  # unready, saying why
    assert answer(served["standby"] + "/healthz") == (200, b"standby\n")
    # A process slow to answer once is not dead: a minute or more of failures first.
    liveness = probes["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_spread_over_zones_and_nodes(overlay: str) -> None:
    template = one(rendered(overlay), "Deployment")["spec"]["template"]
    spread = {c["topologyKey"]: c for c in template["spec"]["topologySpreadConstraints"]}
    assert {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= set(spread)
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        # The constraint counts this workspace's replicas: its selector matches the pods.
        selector = constraint["labelSelector"]["matchLabels"]
        assert subset(selector, template["metadata"]["labels"])
        assert selector[WORKSPACE_LABEL] == overlay
        # A lost zone must not leave the replacement replica unschedulable.
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"


PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8")


def _namespace_of(peer: Obj) -> str | None:
    labels = peer.get("namespaceSelector", {}).get("matchLabels", {})
    return labels.get("kubernetes.io/metadata.name") if set(peer) == {"namespaceSelector"} else None


def _ports(rule: Obj) -> set[tuple[object, str]]:
    return {(p["port"], p.get("protocol", "TCP")) for p in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_allows_only_what_the_syncer_needs(overlay: str) -> None:
    """Egress to DNS, Intercom's and the Collector's HTTPS (public addresses, never the
    cluster's or a node's metadata service) and PostgreSQL; ingress to the metrics port from
    the monitoring namespace, and the webhook port only where the config listens for them."""
    objects = rendered(overlay)
    policy = one(objects, "NetworkPolicy")
    template = one(objects, "Deployment")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    spec = policy["spec"]
    assert subset(spec["podSelector"]["matchLabels"], template["metadata"]["labels"])
    assert spec["podSelector"]["matchLabels"][WORKSPACE_LABEL] == overlay
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    _, config = overlay_config(objects)
    raw = tomllib.loads(overlay_config(objects)[0]["data"]["config.toml"])
    # Ingress: metrics from monitoring; a webhook port only if [webhooks] listen is set.
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    wanted_in = {("metrics", "TCP")}
    webhooks = raw.get("webhooks", {}).get("listen")
    if webhooks:
        wanted_in.add((int(webhooks.rpartition(":")[2]), "TCP"))
    got_in = set()
    for rule in spec["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` admits every pod"
        if ("metrics", "TCP") in _ports(rule) or (ports["metrics"], "TCP") in _ports(rule):
            assert [_namespace_of(peer) for peer in rule["from"]] == ["monitoring"]
        got_in |= {
            ("metrics", "TCP") if p == (ports["metrics"], "TCP") else p for p in _ports(rule)
        }
    assert got_in == wanted_in
    # Egress: every rule names its ports and its peers.
    egress = spec["egress"]
    for rule in egress:
        assert rule.get("ports") and rule.get("to"), rule
    allowed = [(peer, port) for rule in egress for peer in rule["to"] for port in _ports(rule)]
    dns = {port for peer, port in allowed if _namespace_of(peer) == "kube-system"}
    assert dns == {(53, "UDP"), (53, "TCP")}
    database = urlsplit(config.sync.database)
    host = database.hostname or ""
    assert host.endswith(".svc"), "PostgreSQL by its Service name: <name>.<namespace>.svc"
    to_db = {port for peer, port in allowed if _namespace_of(peer) == host.split(".")[1]}
    assert to_db == {(database.port or 5432, "TCP")}
    # Intercom and the Collector: HTTPS, to public addresses only.
    for url in (config.intercom.base_url, config.absmartly.endpoint):
        assert urlsplit(url).scheme == "https" and (urlsplit(url).port or 443) == 443
    public = [peer["ipBlock"] for peer, port in allowed if "ipBlock" in peer]
    assert {port for peer, port in allowed if "ipBlock" in peer} == {(443, "TCP")}
    v4 = [block for block in public if block["cidr"] == "0.0.0.0/0"]
    assert len(v4) == 1 and set(PRIVATE) <= set(v4[0]["except"])
    for block in public:
        assert block.get("except"), f"{block['cidr']} to every address, the cluster's too"
    # Nothing else: every peer is one of the above.
    for peer, _ in allowed:
        assert "ipBlock" in peer or _namespace_of(peer) in ("kube-system", host.split(".")[1])


def test_the_folder_the_readme_names_renders_every_overlay() -> None:
    """`kubectl kustomize deploy/kubernetes` renders each overlay's objects, as the README
    says (each in its own namespace)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "kubectl kustomize deploy/kubernetes" in readme
    objects = kustomized(KUBE) if kustomize_command() is not None else render(KUBE)
    for overlay in OVERLAYS:
        mine = [o for o in objects if o["metadata"]["labels"].get(WORKSPACE_LABEL) == overlay]
        assert sorted(o["kind"] for o in mine) == sorted(o["kind"] for o in rendered(overlay))
        assert {o["metadata"]["namespace"] for o in mine} == {f"syncer-{overlay}"}
    assert len(objects) == sum(len(rendered(overlay)) for overlay in OVERLAYS)
    if kustomize_command() is not None:
        ours = render(KUBE)
        for obj in ours:
            obj.pop("_origin", None)
        assert by_key(ours) == by_key(without_hash(objects))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_non_root_read_only_no_capabilities(overlay: str) -> None:
    pod = one(rendered(overlay), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid()
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]


def image_uid() -> int:
    """The Containerfile's USER: the manifests run the image as the user it was built for."""
    text = (ROOT / "Containerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\d+)", text, re.MULTILINE)
    assert users, "the Containerfile sets no numeric USER"
    return int(users[-1])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budget_keeps_one_replica(overlay: str) -> None:
    objects = rendered(overlay)
    budget = one(objects, "PodDisruptionBudget")
    deployment = one(objects, "Deployment")
    assert budget["apiVersion"] == "policy/v1"
    spec = budget["spec"]
    assert spec.get("minAvailable") == 1 or spec.get("maxUnavailable") == 1
    assert spec["selector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_service_selects_the_pods_and_a_servicemonitor_selects_it(overlay: str) -> None:
    objects = rendered(overlay)
    service = one(objects, "Service")
    template = one(objects, "Deployment")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert subset(service["spec"]["selector"], template["metadata"]["labels"])
    assert service["spec"]["selector"][WORKSPACE_LABEL] == overlay
    (port,) = service["spec"]["ports"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["name"] == "metrics" and port["targetPort"] in ("metrics", ports["metrics"])
    # Unwell pods are scraped too: that is when their metrics matter.
    assert service["spec"]["publishNotReadyAddresses"] is True
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == ports["metrics"]


def test_the_servicemonitor_component_selects_the_metrics_service(tmp_path: Path) -> None:
    """An overlay with components/servicemonitor (as its comment says) gets a ServiceMonitor
    in its namespace that selects its metrics Service on the `metrics` port."""
    shutil.copytree(KUBE, tmp_path / "kubernetes")
    folder = tmp_path / "kubernetes" / "overlays" / OVERLAYS[0]
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    spec["components"] = ["../../components/servicemonitor"]
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    objects = kustomized(folder) if kustomize_command() is not None else render(folder)
    monitor, service = one(objects, "ServiceMonitor"), one(objects, "Service")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert subset(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    if kustomize_command() is not None:
        ours = render(folder)
        for obj in ours:
            obj.pop("_origin", None)
        assert by_key(ours) == by_key(without_hash(objects))


def test_overlays_are_separate_workspaces_on_one_database() -> None:
    """Each overlay its own names, namespace and schema, on one PostgreSQL database (README
    "Many workspaces on one PostgreSQL"): two workspaces in one schema would share cursors
    and outbox. Goals are in the `[[goal]]` form."""
    seen: dict[str, set[str]] = {"names": set(), "namespaces": set(), "schemas": set()}
    databases = set()
    for overlay in OVERLAYS:
        objects = rendered(overlay)
        config_map, config = overlay_config(objects)
        assert "[[goal]]" in config_map["data"]["config.toml"]
        assert "goals" not in tomllib.loads(config_map["data"]["config.toml"])
        assert config.goals
        databases.add(config.sync.database)
        for what, value in (
            ("names", one(objects, "Deployment")["metadata"]["name"]),
            ("namespaces", objects[0]["metadata"]["namespace"]),
            ("schemas", config.sync.schema),
        ):
            assert value, f"{overlay} has no {what[:-1]}"
            assert value not in seen[what], f"{overlay} shares its {what[:-1]} {value}"
            seen[what].add(value)
    assert len(databases) == 1, databases


def test_the_prometheusrule_component_renders_in_the_overlay_namespace(tmp_path: Path) -> None:
    """components/prometheusrule (README "Monitoring") adds the alert rules to an overlay,
    in its namespace; tests/test_alert_rules.py checks they are alerts.yaml's."""
    shutil.copytree(KUBE, tmp_path / "kubernetes")
    folder = tmp_path / "kubernetes" / "overlays" / OVERLAYS[0]
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    spec["components"] = ["../../components/prometheusrule"]
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    objects = kustomized(folder) if kustomize_command() is not None else render(folder)
    rule, service = one(objects, "PrometheusRule"), one(objects, "Service")
    assert rule["metadata"]["namespace"] == service["metadata"]["namespace"]
    alerts = [r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert "SyncerNoActiveInstance" in alerts and len(alerts) == 8
