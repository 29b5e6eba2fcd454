"""docker-compose.yml, the Dockerfile, nginx and .env.example checked against the code: every
service there, every command runnable, every variable read by the code and documented."""

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

from config.celery import QUEUES, TASK_ROUTES, app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()

READ_BY_CODE = re.compile(
    r"""(?:env_(?:str|bool|int|list|paths)|os\.environ\.get)\(\s*["']([A-Z0-9_]+)["']"""
)
INTERPOLATED = re.compile(r"\$\{([A-Z0-9_]+)")


def variables_read_by_code() -> set[str]:
    names = set()
    for folder in ("config", "deploy", "datasets", "annotation", "reports"):
        for path in (ROOT / folder).rglob("*.py"):
            names |= set(READ_BY_CODE.findall(path.read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"}


def documented() -> set[str]:
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.MULTILINE))


def command(service: str) -> list[str]:
    raw = SERVICES[service].get("command", [])
    return shlex.split(raw) if isinstance(raw, str) else list(raw)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


WORKERS = [name for name in SERVICES if "worker" in command(name)[:4]]


def test_the_deployment_has_every_service():
    assert set(SERVICES) == {
        "db", "redis", "migrate", "web", "nginx",
        "worker", "worker-imaging", "worker-statistics", "beat",
    }  # fmt: skip


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_long_running_service_has_a_healthcheck_and_restarts(service):
    spec = SERVICES[service]
    if service == "migrate":  # one-shot: it runs to completion before web starts
        assert spec["restart"] == "no"
        assert SERVICES["web"]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        return
    assert spec["restart"] == "unless-stopped"
    check = spec["healthcheck"]["test"]
    assert check[0] in ("CMD", "CMD-SHELL")
    if "deploy/healthcheck.py" in check:
        assert (ROOT / "deploy" / "healthcheck.py").exists()
        assert check[-1] in ("web", "worker", "beat")


def test_each_queue_has_its_own_worker_pool_and_routes_name_real_queues():
    served = {option(command(name), "-Q"): name for name in WORKERS}
    assert sorted(served) == sorted(QUEUES)
    assert {route["queue"] for route in TASK_ROUTES.values()} <= set(QUEUES)
    assert app.amqp.router.route({}, "datasets.tasks.warm_thumbnails")["queue"].name == "imaging"
    assert app.amqp.router.route({}, "reports.tasks.aggregate_audit")["queue"].name == "statistics"
    assert app.amqp.router.route({}, "annotation.tasks.build_sample_set")["queue"].name == "default"


@pytest.mark.parametrize("service", ["worker", "worker-imaging", "worker-statistics"])
def test_a_worker_answers_its_healthcheck_under_the_name_it_runs_with(service):
    argv = command(service)
    assert argv[:4] == ["celery", "-A", "config", "worker"]
    assert option(argv, "-n") == SERVICES[service]["environment"]["CELERY_WORKER_NAME"]
    assert "-O" in argv and option(argv, "-O") == "fair"  # prefetch 1, no task held back


def test_web_runs_gunicorn_with_the_deploy_config_on_the_port_nginx_proxies_to():
    argv = command("web")
    assert argv[0] == "gunicorn"
    config = ROOT / option(argv, "--config")
    assert config.exists()
    module, _, attribute = argv[-1].partition(":")
    assert getattr(__import__(module, fromlist=["_"]), attribute or "application")
    port = SERVICES["web"]["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]
    assert f"server web:{port};" in NGINX
    assert f'"{port}"' in str(SERVICES["web"]["expose"]) or port in SERVICES["web"]["expose"]


def test_management_commands_of_the_compose_file_exist():
    known = get_commands()
    for name in SERVICES:
        text = " ".join(command(name))
        for used in re.findall(r"manage\.py (\w+)", text):
            assert used in known, f"{name} runs manage.py {used}, which does not exist"


def test_beat_runs_one_schedule_of_registered_tasks():
    argv = command("beat")
    assert argv[:4] == ["celery", "-A", "config", "beat"]
    assert "deploy" not in SERVICES["beat"]  # never scaled
    schedule_dir = str(Path(option(argv, "--schedule")).parent)
    assert any(volume.endswith(":" + schedule_dir) for volume in SERVICES["beat"]["volumes"])
    app.loader.import_default_modules()
    for task in ("annotation.outbox.sweep_outbox", "annotation.watchdog.reset_stuck_builds",
                 "config.health.heartbeat"):  # fmt: skip
        assert task in app.tasks


def test_the_dataset_folder_is_mounted_read_only_everywhere():
    mounts = [
        volume
        for spec in SERVICES.values()
        for volume in spec.get("volumes", [])
        if ":/datasets" in volume
    ]
    assert mounts
    assert all(volume.endswith(":/datasets:ro") for volume in mounts)
    assert SERVICES["web"]["environment"]["DATASET_ROOTS"] == "/datasets"


def test_every_variable_set_by_compose_is_read_by_the_code():
    read = variables_read_by_code()
    for name, spec in SERVICES.items():
        if spec.get("image", "").startswith(("postgres", "redis", "nginx")):
            continue
        unknown = set(spec.get("environment", {})) - read
        assert not unknown, f"{name} sets {sorted(unknown)}, which no code reads"


def test_every_variable_is_documented_in_env_example():
    compose_text = (ROOT / "docker-compose.yml").read_text()
    needed = variables_read_by_code() | set(INTERPOLATED.findall(compose_text))
    missing = needed - documented()
    assert not missing, f"add {sorted(missing)} to .env.example"
    stale = documented() - needed
    assert not stale, f".env.example documents {sorted(stale)}, which nothing reads"


def test_nginx_sends_images_only_through_the_internal_location_django_redirects_to():
    env = SERVICES["web"]["environment"]
    prefix = env["IMAGE_ACCEL_REDIRECT_PREFIX"]
    block = re.search(r"location " + re.escape(prefix) + r" \{(.*?)\}", NGINX, re.DOTALL)
    assert block, f"nginx has no location {prefix}"
    assert "internal;" in block.group(1)
    assert f"alias {env['IMAGE_CACHE_ROOT'].rstrip('/')}/;" in block.group(1)
    assert f"alias {env['STATIC_ROOT'].rstrip('/')}/;" in NGINX
    nginx_mounts = SERVICES["nginx"]["volumes"]
    assert all(volume.endswith(":ro") for volume in nginx_mounts)
    assert not any("/datasets" in volume for volume in nginx_mounts)


def test_the_image_creates_the_writable_folders_the_volumes_mount():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("media", "static", "beat"):
        assert f"/var/lib/label-audit/{folder}" in dockerfile
    assert "USER labelaudit" in dockerfile


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "labelaudit.example.org",
        "LABEL_AUDIT_VAR": str(tmp_path),
    }
    result = subprocess.run(
        # The deployment checks (security); API-schema warnings are the API's owners' to fix.
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--tag",
            "security",
            "--fail-level",
            "WARNING",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
