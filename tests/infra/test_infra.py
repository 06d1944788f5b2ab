"""Static checks of infra/: images, work-pool base job templates, the compose sketch.

No Docker engine or cluster is available where tests run, so nothing here builds an image or
starts a container. What can be checked without one is checked for real: the templates go
through Prefect's own server-side validation and are rendered with Prefect's own templating,
the compose file and Dockerfiles are parsed, and names are compared with the code.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

from deployments.local_stack import PROJECT_DIR, WORK_POOLS

INFRA = PROJECT_DIR / "infra"
POOLS_DIR = INFRA / "work-pools"
COMPOSE_FILE = INFRA / "compose.yaml"
README = INFRA / "README.md"

# template file -> worker type (the key of Prefect's shipped default templates)
TEMPLATES = {
    "kubernetes-cpu.json": "kubernetes",
    "kubernetes-gpu.json": "kubernetes",
    "ecs-gpu.json": "ecs",
    "docker-cpu.json": "docker",
}
GPU_TEMPLATES = ("kubernetes-gpu.json", "ecs-gpu.json")
CPU_TEMPLATES = ("kubernetes-cpu.json", "docker-cpu.json")

DOCKERFILES = {
    "Dockerfile": ("python:3.11-slim", "https://download.pytorch.org/whl/cpu"),
    "Dockerfile.gpu": ("nvidia/cuda:", "https://download.pytorch.org/whl/cu128"),
}
PROJECT_ITEMS = ("flows", "tasks", "deployments", "podium", "prefect.yaml", "data/sample")

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
SECRETISH = re.compile(r"SECRET|PASSWORD|KEY|TOKEN", re.IGNORECASE)
# `${VAR}` or `${VAR:?message}` / `${VAR?message}`; a `:-default` would be a literal secret.
INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")


def load_template(name: str) -> dict[str, Any]:
    return json.loads((POOLS_DIR / name).read_text())


def prefect_default_template(worker_type: str) -> dict[str, Any]:
    """The default base job template Prefect ships for a worker type (no plugin needed)."""
    import prefect

    views = (
        Path(prefect.__file__).parent
        / "server/api/collections_data/views/aggregate-worker-metadata.json"
    )
    for collection in json.loads(views.read_text()).values():
        if worker_type in collection:
            return collection[worker_type]["default_base_job_configuration"]
    raise AssertionError(f"Prefect ships no default template for {worker_type!r}")


def variable_defaults(template: dict[str, Any]) -> dict[str, Any]:
    """What a worker fills placeholders with when nothing is overridden."""
    return {
        name: spec["default"]
        for name, spec in template["variables"]["properties"].items()
        if spec.get("default") is not None
    }


def render(template: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Render job_configuration the way BaseJobConfiguration.from_template_and_values does."""
    from prefect.utilities.templating import apply_values

    values = variable_defaults(template) | overrides
    return apply_values(copy.deepcopy(template["job_configuration"]), values, remove_notset=True)


def k8s_container(job_configuration: dict[str, Any]) -> dict[str, Any]:
    return job_configuration["job_manifest"]["spec"]["template"]["spec"]["containers"][0]


def quantity_bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]*)", str(quantity))
    assert match, f"not a Kubernetes quantity: {quantity!r}"
    number, unit = match.groups()
    return float(number) * (units[unit] if unit else 1)


# ---- work-pool base job templates ----------------------------------------------------------


def test_the_expected_templates_and_nothing_else() -> None:
    assert sorted(p.name for p in POOLS_DIR.glob("*")) == sorted(TEMPLATES)


@pytest.mark.parametrize(
    "path", sorted(INFRA.rglob("*.json")), ids=lambda p: str(p.relative_to(INFRA))
)
def test_every_json_file_parses(path: Path) -> None:
    json.loads(path.read_text())


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_shape(name: str) -> None:
    template = load_template(name)
    assert set(template) == {"job_configuration", "variables"}
    assert isinstance(template["job_configuration"], dict) and template["job_configuration"]
    assert isinstance(template["variables"].get("properties"), dict)
    assert template["variables"].get("type") == "object"


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_passes_prefect_server_validation(name: str) -> None:
    """What `prefect work-pool create --base-job-template` runs on the server."""
    from prefect.server.schemas.actions import WorkPoolCreate, validate_base_job_template

    template = load_template(name)
    validate_base_job_template(template)
    WorkPoolCreate(name=WORK_POOLS[0], type=TEMPLATES[name], base_job_template=template)


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_placeholder_is_a_declared_variable(name: str) -> None:
    """Prefect's validator exempts nothing: `command`, `env`, `labels` and `name` are filled by
    the worker at run time, but a template must still declare them (as Prefect's own do).
    Block, Prefect-variable and `$ENV` placeholders would fail that validation too."""
    template = load_template(name)
    used = set(PLACEHOLDER.findall(json.dumps(template["job_configuration"])))
    declared = set(template["variables"]["properties"])
    assert used, "no placeholders at all"
    assert not (used - declared), f"undeclared variables: {sorted(used - declared)}"
    for required in ("command", "env", "labels", "name", "image"):
        assert required in used, f"{required} is not templated"


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_declared_variable_is_used(name: str) -> None:
    template = load_template(name)
    used = set(PLACEHOLDER.findall(json.dumps(template["job_configuration"])))
    unused = set(template["variables"]["properties"]) - used
    assert not unused, f"variables declared but wired nowhere: {sorted(unused)}"


@pytest.mark.parametrize("name", TEMPLATES)
def test_variable_defaults_match_their_schema(name: str) -> None:
    variables = load_template(name)["variables"]
    definitions = variables.get("definitions", {})
    for var, spec in variables["properties"].items():
        if "default" in spec:
            jsonschema.validate(spec["default"], {**spec, "definitions": definitions})
        assert spec.get("description"), f"{var} has no description"


@pytest.mark.parametrize("name", TEMPLATES)
def test_job_configuration_keys_are_known_to_the_worker(name: str) -> None:
    ours = load_template(name)
    default = prefect_default_template(TEMPLATES[name])
    unknown = set(ours["job_configuration"]) - set(default["job_configuration"])
    assert not unknown, f"keys the {TEMPLATES[name]} worker does not know: {sorted(unknown)}"
    # Variables Prefect's default declares keep their type (the UI and overrides rely on them).
    for var, spec in default["variables"]["properties"].items():
        if var in ours["variables"]["properties"] and "type" in spec:
            assert ours["variables"]["properties"][var].get("type") == spec["type"], var


@pytest.mark.parametrize("name", [n for n, t in TEMPLATES.items() if t == "kubernetes"])
def test_kubernetes_manifest_renders_to_a_job(name: str) -> None:
    template = load_template(name)
    rendered = render(template)
    manifest = rendered["job_manifest"]
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert manifest["spec"]["ttlSecondsAfterFinished"] == 3600
    pod = manifest["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = k8s_container(rendered)
    assert container["image"] == template["variables"]["properties"]["image"]["default"]
    refs = [next(iter(source.values()))["name"] for source in container["envFrom"]]
    assert refs == ["podium-config", "podium-secrets"]
    resources = container["resources"]
    assert quantity_bytes(resources["requests"]["memory"]) <= quantity_bytes(
        resources["limits"]["memory"]
    )
    # Overrides reach the manifest, as a deployment's job_variables would.
    overridden = k8s_container(render(template, image="registry.example.com/podium:1"))
    assert overridden["image"] == "registry.example.com/podium:1"


def test_kubernetes_gpu_template_requests_a_gpu() -> None:
    template = load_template("kubernetes-gpu.json")
    rendered = render(template)
    resources = k8s_container(rendered)["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == 1
    assert resources["limits"]["nvidia.com/gpu"] == 1
    pod = rendered["job_manifest"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert "runtimeClassName" not in pod  # unset optional variables disappear
    two = k8s_container(render(template, gpu_count=2))["resources"]
    assert two["requests"]["nvidia.com/gpu"] == two["limits"]["nvidia.com/gpu"] == 2


def test_kubernetes_gpu_template_asks_for_more_memory_than_cpu() -> None:
    gpu = k8s_container(render(load_template("kubernetes-gpu.json")))["resources"]
    cpu = k8s_container(render(load_template("kubernetes-cpu.json")))["resources"]
    for side in ("requests", "limits"):
        assert quantity_bytes(gpu[side]["memory"]) > quantity_bytes(cpu[side]["memory"])


def test_ecs_gpu_template_requests_a_gpu_on_ec2() -> None:
    template = load_template("ecs-gpu.json")
    rendered = render(template)
    container = rendered["task_definition"]["containerDefinitions"][0]
    assert {"type": "GPU", "value": "1"} in container["resourceRequirements"]
    assert rendered["task_definition"]["requiresCompatibilities"] == ["EC2"]
    assert rendered["task_run_request"]["launchType"] == "EC2"
    assert container["image"] == template["variables"]["properties"]["image"]["default"]


@pytest.mark.parametrize("name", CPU_TEMPLATES)
def test_cpu_templates_do_not_request_gpus(name: str) -> None:
    text = json.dumps(render(load_template(name))).lower()
    assert "nvidia" not in text and '"gpu"' not in text


@pytest.mark.parametrize("name", GPU_TEMPLATES)
def test_gpu_templates_run_the_gpu_image(name: str) -> None:
    image = load_template(name)["variables"]["properties"]["image"]["default"]
    assert image.split(":")[0].endswith("podium-gpu")


def test_docker_template_joins_the_compose_network() -> None:
    rendered = render(load_template("docker-cpu.json"))
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    assert rendered["networks"] == [compose["networks"]["default"]["name"]]
    assert rendered["image"] == compose_services()["gateway"]["image"].split(":-")[1].rstrip("}")


# ---- compose.yaml -------------------------------------------------------------------------


def compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    if isinstance(command, str):
        command = [command]
    return [word for part in command for word in shlex.split(part, comments=True)]


def test_compose_has_the_stack() -> None:
    services = compose_services()
    expected = {
        "postgres",
        "prefect-server",
        "minio",
        "minio-init",
        "deploy",
        "gateway",
        "worker-cpu",
        "worker-gpu",
    }
    assert expected <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_compose_runs_counts_and_recommendations_in_a_service_of_their_own() -> None:
    services = compose_services()
    derived = services["warm-derived"]
    assert command_words(derived)[:3] == ["python", "-m", "deployments.warm_derived"]
    assert "gpu" not in str(derived["image"]) and "deploy" not in derived
    assert "healthz" in " ".join(derived["healthcheck"]["test"])
    assert environment(services["warm-executor-gpu"])["PODIUM_DERIVED__WARM"] == "false"


def test_compose_has_no_literal_secrets() -> None:
    text = COMPOSE_FILE.read_text()
    checked = 0
    for name, service in compose_services().items():
        for key, value in environment(service).items():
            if SECRETISH.search(key):
                checked += 1
                assert isinstance(value, str) and INTERPOLATION.match(value), (
                    f"{name}: {key} must be `${{VAR:?...}}`, not a literal or a default"
                )
    assert checked >= 8
    # No secret-looking variable with a fallback, anywhere (x- blocks, commands).
    defaults = re.findall(r"\$\{(\w*(?:SECRET|PASSWORD|KEY|TOKEN)\w*)(?::?-)", text, re.I)
    assert not defaults, f"secrets with defaults: {defaults}"
    assert not re.search(r"://[^/\s:@'\"]+:[^/\s@'\"]+@", text), "credentials in a URL"


def test_compose_prefect_server_uses_postgres() -> None:
    services = compose_services()
    env = environment(services["prefect-server"])
    assert env["PREFECT_SERVER_DATABASE_DRIVER"] == "postgresql+asyncpg"
    assert env["PREFECT_SERVER_DATABASE_HOST"] == "postgres"
    assert (
        env["PREFECT_SERVER_DATABASE_PASSWORD"]
        == environment(services["postgres"])["POSTGRES_PASSWORD"]
    )
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_prefect_server_requires_the_auth_string_every_client_sends() -> None:
    services = compose_services()
    required = environment(services["prefect-server"])["PREFECT_SERVER_API_AUTH_STRING"]
    assert required == "${PODIUM_PREFECT__AUTH_STRING:?set it}"
    for name in ("gateway", "worker-cpu", "worker-gpu"):
        env = environment(services[name])
        assert env["PREFECT_API_AUTH_STRING"] == env["PODIUM_PREFECT__AUTH_STRING"] == required


def test_compose_lake_is_on_minio() -> None:
    services = compose_services()
    bucket = None
    for name in ("gateway", "worker-cpu", "worker-gpu"):
        env = environment(services[name])
        assert env["PODIUM_LAKE__URL"].startswith("s3://")
        bucket = env["PODIUM_LAKE__URL"].removeprefix("s3://").split("/")[0]
        assert env["PODIUM_LAKE__S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["PODIUM_ENVIRONMENT"] == "production"
        assert env["PODIUM_PREFECT__API_URL"] == "http://prefect-server:4200/api"
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    init = " ".join(command_words(services["minio-init"]))
    assert f"mb --ignore-existing local/{bucket}" in init


def test_compose_images_build_from_these_dockerfiles() -> None:
    expected = {
        "gateway": "infra/Dockerfile",
        "worker-cpu": "infra/Dockerfile",
        "deploy": "infra/Dockerfile",
        "prefect-server": "infra/Dockerfile",
        "worker-gpu": "infra/Dockerfile.gpu",
    }
    services = compose_services()
    for name, dockerfile in expected.items():
        build = services[name]["build"]
        assert (INFRA / build["context"]).resolve() == PROJECT_DIR.resolve(), name
        assert build["dockerfile"] == dockerfile
        assert (PROJECT_DIR / dockerfile).is_file()
    assert command_words(services["gateway"]) == ["podium", "gateway"]


def test_compose_gpu_worker_reserves_an_nvidia_gpu() -> None:
    devices = compose_services()["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_compose_deploy_creates_pools_and_deploys_everything() -> None:
    words = command_words(compose_services()["deploy"])
    script = " ".join(words)
    assert "prefect --no-prompt deploy --all" in script
    assert script.index("work-pool create") < script.index("deploy --all")


def pools_named(text: str) -> set[str]:
    return set(re.findall(r"(?:--pool|work-pool create)[\s\"',]+([\w-]+)", text))


def test_pool_names_match_the_code() -> None:
    compose_pools = set()
    for service in compose_services().values():
        compose_pools |= pools_named(" ".join(command_words(service)))
    assert compose_pools == set(WORK_POOLS)
    assert pools_named(README.read_text()) == set(WORK_POOLS)
    spec = yaml.safe_load((PROJECT_DIR / "prefect.yaml").read_text())
    assert {d["work_pool"]["name"] for d in spec["deployments"]} <= set(WORK_POOLS)


# ---- Dockerfiles --------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def env_of(steps: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in steps:
        if keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def pyproject_torch_pin() -> str:
    import tomllib

    deps = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in deps if re.match(r"torch\s*==", d)]
    return pin.replace(" ", "")


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile(name: str) -> None:
    base, torch_index = DOCKERFILES[name]
    steps = instructions(INFRA / name)
    assert steps[0][0] == "FROM" and steps[0][1].startswith(base)
    runs = [args for keyword, args in steps if keyword == "RUN"]
    torch_pin = pyproject_torch_pin()
    assert torch_pin == "torch==2.13.0"
    assert any(f"pip install {torch_pin} --index-url {torch_index}" in r for r in runs)
    project_installs = [r for r in runs if re.search(r"pip install \S*\.\[dask\]", r)]
    assert project_installs, "project not installed with the dask extra"
    # The exact versions of the lock, as `make install` takes them; the project adds none.
    assert all(
        "pip install -r requirements.lock" in r and "--no-deps" in r for r in project_installs
    )
    assert not any(re.search(r"pip install[^&]*(\s-e\s|--editable)", r) for r in runs)
    # torch is installed before the project, so the pin is already satisfied by that build.
    assert runs.index(next(r for r in runs if torch_pin in r)) < runs.index(project_installs[0])

    env = env_of(steps)
    assert env["PODIUM_PROJECT_DIR"] == "/opt/podium"
    assert env["DO_NOT_TRACK"] == "1"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["HF_HUB_OFFLINE"] == "1"

    users = [args for keyword, args in steps if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [args for keyword, args in steps if keyword == "CMD"][-1] == '["podium", "gateway"]'

    # Every COPY source exists; the project folder lands in PODIUM_PROJECT_DIR.
    workdir = PurePosixPath("/")
    landed: dict[str, PurePosixPath] = {}
    for keyword, args in steps:
        if keyword == "WORKDIR":
            workdir = workdir / args
        elif keyword == "COPY":
            assert "--from" not in args
            *sources, dest = shlex.split(args)
            for source in sources:
                assert (PROJECT_DIR / source).exists(), f"COPY {source}: not in the repository"
                landed[source] = workdir / dest
    project_dir = PurePosixPath(env["PODIUM_PROJECT_DIR"])
    for item in PROJECT_ITEMS:
        assert landed.get(item) == project_dir / item, f"{item} is not copied to {project_dir}"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerignore_covers_gitignore(name: str) -> None:
    ignore = INFRA / f"{name}.dockerignore"
    patterns = {
        ln.strip().removeprefix("**/").rstrip("/")
        for ln in ignore.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    gitignored = {
        ln.strip().rstrip("/")
        for ln in (PROJECT_DIR / ".gitignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert not (gitignored - patterns), f"{ignore.name} misses {sorted(gitignored - patterns)}"
    assert ".git" in patterns
    # Nothing an image needs is excluded.
    for item in PROJECT_ITEMS + ("pyproject.toml", "README.md"):
        assert item not in patterns
