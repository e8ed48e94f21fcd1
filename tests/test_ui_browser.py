"""Each DAG's Trigger form in the real Airflow 3.3.1 UI, in headless Chromium, as a person uses it.

Runs on the services tests/test_real_services.py starts (the same session fixture). For both DAGs it opens the DAG
page, clicks *Trigger* and checks that:

- the form is in sections (``Param(section=...)``): Airflow's default one, with the few fields a user changes, open;
  Storage and account, Training, Hyperparameters and Deployment and smoke test collapsed;
- every Param appears in its section with its title and description (from ``Param(title=..., description=...)``),
  e.g. "Dataset URL", "Training instance type", "Minimum smoke-test accuracy";
- out-of-range numbers are refused by the form itself: the number fields carry the schema's minimum/maximum and
  clamp a typed -5 sample size / 1.5 accuracy to the limit, so such a value can never be sent;
- a value the form cannot check itself (a dataset SHA-256 that does not match the Param's pattern) is rejected by
  the server's schema validation: the POST answers 400, the form stays open showing "Invalid input for param
  dataset_sha256", and no run is created;
- the request the form sends has the shape tests/test_real_services.py posts (``services.ui_trigger_body``);

and saves a screenshot of the form showing the rejection to .local/artifacts/trigger-form-<dag_id>.png. It also
checks over the REST API that invalid confs are refused server-side (400) with the param named.

The browser is Debian's /usr/bin/chromium driven by the Python Playwright client (installed by
include/dev/browser_setup.sh; Playwright's own browser download is not used). Without them the test is skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_stack import ARTIFACTS, DAG_IDS, chromium
from services import ApiError, form_defaults, ui_trigger_body

pytestmark = [pytest.mark.e2e, pytest.mark.airflow_services]

# Airflow's form opens the section of the Params without one; the named sections start collapsed.
DEFAULT_SECTION = "Run Parameters"
# Key fields, each checked for its label and the description shown under it.
KEY_TITLES = (
    "Dataset URL",
    "Dataset SHA-256",
    "Training instance type",
    "Smoke-test sample size",
    "Minimum smoke-test accuracy",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _field_input(dialog: Any, name: str) -> Any:
    return dialog.locator(f"[name='element_{name}']")


def _section_of(param: dict[str, Any]) -> str:
    return param["schema"].get("section") or DEFAULT_SECTION


def _section_trigger(dialog: Any, section: str) -> Any:
    return dialog.get_by_role("button", name=section, exact=True)


def _open_section(dialog: Any, params: dict[str, Any], section: str) -> None:
    """Expand a section of the form (the accordion shows one at a time) and wait for its first field."""
    trigger = _section_trigger(dialog, section)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    first = next(name for name, p in params.items() if _section_of(p) == section)
    _field_root(dialog, first).wait_for(state="visible")  # an enum's <input> is hidden: wait for its field


def _field_root(dialog: Any, name: str) -> Any:
    return dialog.locator("[data-scope='field'][data-part='root']").filter(
        has=dialog.page.locator(f"[name='element_{name}']")
    )  # "has" is matched inside each field root


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_trigger_form_shows_params_and_rejects_invalid_values(browser, airflow_stack, dag_id):
    af = airflow_stack.airflow
    details = af.api("GET", f"/api/v2/dags/{dag_id}/details")
    params: dict[str, Any] = details["params"]
    runs_before = af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"]
    paused_before = details["is_paused"]

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # The UI logs in by itself with the all-admins simple auth manager (redirect to /auth/token/login).
        page.goto(f"{af.url}/dags/{dag_id}")
        page.get_by_test_id("trigger-dag-button").click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for()
        dialog.get_by_text(f"Trigger Dag - {dag_id}").wait_for()
        _field_input(dialog, "dataset_url").wait_for()

        # the sections: the default one (the few fields a user changes) open, every named one collapsed
        sections = list(dict.fromkeys(_section_of(p) for p in params.values()))
        assert sections[0] == DEFAULT_SECTION and len(sections) == 5, sections
        expanded = {section: _section_trigger(dialog, section).get_attribute("aria-expanded") for section in sections}
        assert expanded == {section: str(section == DEFAULT_SECTION).lower() for section in sections}, expanded

        # every Param, section by section: its title as the field's label, its description as the help text
        missing = []
        for section in sections:
            _open_section(dialog, params, section)
            text = dialog.inner_text()
            missing += [
                (name, p["schema"].get("title"))
                for name, p in params.items()
                if _section_of(p) == section
                and (p["schema"].get("title", name) not in text or (p.get("description") or "") not in text)
            ]
            for title in KEY_TITLES:
                name = next(n for n, p in params.items() if p["schema"].get("title") == title)
                if _section_of(params[name]) != section:
                    continue
                field = _field_root(dialog, name)
                assert field.locator("label").inner_text().replace("*", "").strip() == title
                helper = field.locator("[data-part='helper-text']")
                assert helper.inner_text() == params[name]["description"], (title, helper.inner_text())
        assert not missing, missing

        # out-of-range numbers: the form clamps them to the schema's limits, so they cannot be submitted
        _open_section(dialog, params, _section_of(params["smoke_sample_size"]))
        sample = _field_input(dialog, "smoke_sample_size")
        assert sample.get_attribute("aria-valuemin") == str(params["smoke_sample_size"]["schema"]["minimum"])
        sample.fill("-5")
        sample.press("Tab")
        accuracy = _field_input(dialog, "min_accuracy")
        accuracy.fill("1.5")
        accuracy.press("Tab")
        assert sample.input_value() == "1", sample.input_value()
        assert accuracy.input_value() == "1", accuracy.input_value()

        # a SHA-256 that breaks the Param's pattern: the server's schema check refuses it, the form shows why
        _open_section(dialog, params, _section_of(params["dataset_sha256"]))
        _field_input(dialog, "dataset_sha256").fill("not-a-sha256")
        unpause = dialog.get_by_role("checkbox", name=re.compile(r"^Unpause"))
        if unpause.count() and unpause.first.is_checked():  # a paused DAG's form: leave the DAG as it is
            dialog.locator("[data-scope='checkbox'][data-part='root']", has_text="Unpause").first.click()
            assert not unpause.first.is_checked()
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith(f"/api/v2/dags/{dag_id}/dagRuns")
        ) as answer:
            dialog.get_by_test_id("trigger-dag-submit").click()
        response = answer.value
        sent = json.loads(response.request.post_data or "{}")
        assert response.status == 400, response.status
        error = dialog.get_by_text("Invalid input for param dataset_sha256")
        error.wait_for()
        assert "does not match" in dialog.inner_text()
        assert dialog.is_visible()  # the form stays open with the values entered

        # the form's request: the shape test_real_services posts, every Param in conf, the clamped values
        assert set(sent) == set(ui_trigger_body({})), sent.keys()
        assert set(sent["conf"]) == set(params)
        assert sent["conf"]["smoke_sample_size"] == 1 and sent["conf"]["min_accuracy"] == 1
        assert sent["conf"]["dataset_sha256"] == "not-a-sha256"

        # screenshot of the whole form: the error on top, the open section with the rejected field below
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"trigger-form-{dag_id}.png"
        height = int(dialog.bounding_box()["height"]) + 200
        page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 8000)})
        page.wait_for_timeout(500)
        dialog.get_by_text(f"Trigger Dag - {dag_id}").scroll_into_view_if_needed()
        page.screenshot(path=str(shot))
        print(f"\n[ui] {dag_id}: trigger form screenshot {shot} ({shot.stat().st_size} bytes)")
    finally:
        page.close()

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000, len(data)
    assert af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"] == runs_before  # nothing started
    assert af.api("GET", f"/api/v2/dags/{dag_id}")["is_paused"] == paused_before


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_invalid_conf_is_rejected_server_side(airflow_stack, dag_id):
    af = airflow_stack.airflow
    defaults = form_defaults(af.api("GET", f"/api/v2/dags/{dag_id}/details"))
    runs_before = af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"]
    for change, words in (
        ({"smoke_sample_size": -5}, "less than the minimum"),
        ({"dataset_sha256": "not-a-sha256"}, "does not match"),
        ({"min_accuracy": 1.5}, "greater than the maximum"),
        ({"training_instance_type": "ml.t3.medium"}, "is not one of"),
    ):
        with pytest.raises(ApiError) as err:
            af.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", ui_trigger_body({**defaults, **change}))
        assert err.value.status in (400, 422), err.value
        name = next(iter(change))
        assert f"param {name}" in err.value.body and words in err.value.body, err.value.body
    assert af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"] == runs_before
