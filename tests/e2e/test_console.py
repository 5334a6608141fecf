"""The web console in a real browser (Debian's chromium driven by selenium): each role signs in and sees
only the controls the API would allow it, an approver approves a pending gate and the agent's retry gets
the held answer, the approvals inbox updates without a reload, forms without the CSRF token fail, no page
logs a console error, and screenshots of the main pages are taken."""
import json
import os
import pathlib
import time
import urllib.error
import urllib.request
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By

from conftest import remember
from test_approvals import GATE, PROD
from test_control_plane import ADMIN_TOKEN, CONTROL_URL, ORG, OWNER_EMAIL, OWNER_PASSWORD, call
from test_governance import governed

# Kept after the run (the test folder is removed): .build/console-screenshots, ignored by git.
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / ".build" / "console-screenshots"
PASSWORD = "console-password-123"
# Buttons of GET forms (filters) and of the header: present for everyone, they change nothing.
HARMLESS = {"Sign out", "Switch", "Filter", "Show", "Show the differences"}


def member_with_role(role):
    """A new account that joined the org with `role` through an invitation."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    status, _, created = call("POST", "/api/auth/signup", body={"email": email, "password": PASSWORD})
    assert status == 201, created
    remember(created["token"])
    status, _, invited = call("POST", f"/api/orgs/{ORG}/invitations", token=ADMIN_TOKEN, body={"email": email, "role": role})
    assert status == 201, invited
    remember(invited["token"])
    status, _, accepted = call("POST", "/api/invitations/accept", token=created["token"], body={"token": invited["token"]})
    assert status == 200, accepted
    return email


@pytest.fixture(scope="module")
def accounts():
    return {"owner": OWNER_EMAIL, **{role: member_with_role(role) for role in ("admin", "member", "viewer")}}


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    yield driver
    errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    driver.quit()
    assert not errors, f"console errors: {errors}"


def sign_in(driver, email, password=PASSWORD):
    driver.get(CONTROL_URL + "/login")
    driver.find_element(By.NAME, "email").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    deadline = time.monotonic() + 5
    while driver.current_url.endswith("/login"):
        assert time.monotonic() < deadline, driver.find_element(By.TAG_NAME, "main").text[:300]
        time.sleep(0.05)
    assert "/orgs/" in driver.current_url or driver.current_url.rstrip("/") == CONTROL_URL


def follow(driver, element, timeout=5):
    """Clicks `element` and waits until the browser has left the page it was on: the next page may hold
    the same elements (a nav, forms), so waiting for one of them could still find the old page's."""
    # A mark on the old page's window: the next page's window does not have it. (Waiting for the old
    # page's elements to go stale instead can fail inside chromedriver while the page is replaced.)
    driver.execute_script("window.rungateLeaving = true")
    element.click()
    deadline = time.monotonic() + timeout
    while True:
        try:
            if driver.execute_script("return window.rungateLeaving !== true && document.readyState === 'complete'"):
                return
        except WebDriverException:  # asked mid-navigation
            pass
        assert time.monotonic() < deadline, "the click did not lead to another page"
        time.sleep(0.05)


def text_of(driver, element_id):
    """The text of the element with `element_id`, read in one step: the live inbox replaces its
    elements as it updates, so a reference found first could be gone when its text is asked for."""
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : ''", element_id)


def wait_css(driver, selector, timeout=5):
    """The elements matching `selector` once there are some (after a form post, the next page loads)."""
    deadline = time.monotonic() + timeout
    while not (found := driver.find_elements(By.CSS_SELECTOR, selector)):
        assert time.monotonic() < deadline, (selector, driver.find_element(By.TAG_NAME, "body").text[:400])
        time.sleep(0.05)
    return found


def open_page(driver, page):
    driver.get(f"{CONTROL_URL}/orgs/{ORG}/{page}")
    title = driver.find_element(By.TAG_NAME, "h1").text
    assert title and title not in ("Not found", "Not allowed"), page
    assert not driver.find_elements(By.CSS_SELECTOR, "p.error"), (page, driver.find_element(By.TAG_NAME, "main").text[:300])


def write_controls(driver):
    """The labels of every button that would change something (a form posting to the console)."""
    labels = []
    for form in driver.find_elements(By.TAG_NAME, "form"):
        if (form.get_attribute("method") or "get").lower() == "post" and not form.get_attribute("action").endswith("/logout"):
            labels += [button.text for button in form.find_elements(By.TAG_NAME, "button")]
    return labels


PAGES = {"approvals": "Approvals", "runs": "Runs", "spend": "Spend", "agents": "Agents", "policies": "Policies", "budgets": "Budgets",
         "provider-keys": "Provider keys", "webhooks": "Webhooks", "members": "Members", "audit-log": "Audit log", "settings": "Settings"}


def test_each_role_sees_only_what_it_may_do(browser, accounts):
    seen = {}
    for role in ("owner", "admin", "member", "viewer"):
        browser.delete_all_cookies()
        sign_in(browser, accounts[role], OWNER_PASSWORD if role == "owner" else PASSWORD)
        open_page(browser, "agents")
        nav = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "nav a")]
        controls = set()
        for page, label in PAGES.items():
            if label not in nav:
                continue
            open_page(browser, page)
            controls |= set(write_controls(browser))
        seen[role] = (nav, controls)
    owner_nav, owner_controls = seen["owner"]
    assert "Audit log" in owner_nav and {"Create agent", "Create policy", "Invite"} <= owner_controls
    assert any(label.startswith("Delete this organisation") for label in owner_controls)
    admin_nav, admin_controls = seen["admin"]
    assert "Create agent" in admin_controls and not any(label.startswith("Delete this organisation") for label in admin_controls)
    member_nav, member_controls = seen["member"]
    assert "Audit log" not in member_nav and "Create agent" not in member_controls and "Invite" not in member_controls
    viewer_nav, viewer_controls = seen["viewer"]
    assert viewer_controls == set(), f"a viewer sees no write control, saw {viewer_controls}"
    assert "Audit log" not in viewer_nav and "Approvals" in viewer_nav


def test_an_approver_approves_a_pending_gate_and_the_agent_retry_succeeds(browser, accounts):
    client, _, _ = governed(GATE)
    sign_in(browser, accounts["member"])
    open_page(browser, "approvals")
    # The inbox is open before the agent asks: the request appears without a reload.
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD)
    assert first.status_code == 202
    approval = first.http_response.json()["id"]
    run = first.headers["x-rungate-run-id"]
    deadline = time.monotonic() + 10
    while run[-8:] not in (pending := text_of(browser, "pending")):
        assert time.monotonic() < deadline, "the pending request never appeared"
        time.sleep(0.3)
    assert "delete_database" in pending and '"prod"' in pending
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "approvals.png"))

    for attempt in range(5):  # the inbox may be replaced between finding the field and typing in it
        try:
            row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#pending tbody tr") if run[-8:] in r.text)
            approve = next(f for f in row.find_elements(By.TAG_NAME, "form") if "Approve" in f.text)
            approve.find_element(By.NAME, "reason").send_keys("checked with the on-call")
            break
        except StaleElementReferenceException:
            assert attempt < 4
    follow(browser, approve.find_element(By.TAG_NAME, "button"))
    assert "Approve" in wait_css(browser, ".flash")[0].text
    status, _, decided = call("GET", f"/api/orgs/{ORG}/approvals/{approval}", token=ADMIN_TOKEN)
    assert decided["status"] == "approved" and decided["reason"] == "checked with the on-call"

    retry = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROD, extra_headers={"x-rungate-run-id": run})
    assert retry.status_code == 200 and retry.parse().choices[0].message.tool_calls[0].function.name == "delete_database"

    browser.get(f"{CONTROL_URL}/orgs/{ORG}/runs/{run}")
    steps = browser.find_element(By.TAG_NAME, "main").text
    assert "held_for_approval" in steps and "approval" in steps
    browser.save_screenshot(str(SCREENSHOTS / "run.png"))
    for page in ("runs", "spend", "agents", "policies"):
        open_page(browser, page)
        browser.save_screenshot(str(SCREENSHOTS / f"{page}.png"))


def test_an_admin_creates_an_agent_and_sees_its_token_exactly_once(browser, accounts):
    sign_in(browser, accounts["admin"])
    open_page(browser, "agents")
    name = f"console-{uuid.uuid4().hex[:6]}"
    create = next(f for f in browser.find_elements(By.TAG_NAME, "form") if "Create agent" in f.text)
    create.find_element(By.NAME, "name").send_keys(name)
    follow(browser, create.find_element(By.TAG_NAME, "button"))
    wait_css(browser, ".flash")
    follow(browser, browser.find_element(By.LINK_TEXT, name))
    issue = next(f for f in browser.find_elements(By.TAG_NAME, "form") if "Issue token" in f.text)
    issue.find_element(By.NAME, "name").send_keys("ci")
    follow(browser, issue.find_element(By.TAG_NAME, "button"))
    token = wait_css(browser, "#secret")[0].text
    remember(token)
    assert token.startswith("rg_agt_") and "only this once" in browser.find_element(By.TAG_NAME, "main").text
    follow(browser, browser.find_element(By.LINK_TEXT, "Done"))
    assert token not in browser.page_source, "the agent page never shows the token again"
    assert token[:12] in browser.page_source or "rg_agt_" in browser.page_source  # its display prefix
    audit = call("GET", f"/api/orgs/{ORG}/audit-log?action=tokens.create", token=ADMIN_TOKEN)[2]["data"]
    assert audit and audit[0]["actor_type"] == "user"


def test_the_org_switcher_and_signing_out(browser):
    email = member_with_role("viewer")
    status, _, session = call("POST", "/api/auth/login", body={"email": email, "password": PASSWORD})
    remember(session["token"])
    status, _, own = call("POST", "/api/orgs", token=session["token"], body={"name": "Second org"})
    assert status == 201, own
    sign_in(browser, email)
    # Two orgs: the home page lists them; from an org page the switcher goes to the other one.
    assert "Second org" in browser.find_element(By.TAG_NAME, "main").text
    open_page(browser, "approvals")
    switcher = browser.find_element(By.CSS_SELECTOR, "form.switch")
    switcher.find_element(By.CSS_SELECTOR, f"option[value='{own['id']}']").click()
    follow(browser, switcher.find_element(By.TAG_NAME, "button"))
    assert f"/orgs/{own['id']}/" in browser.current_url
    assert "owner" in browser.find_element(By.CSS_SELECTOR, "header .who").text
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))
    wait_css(browser, "input[name=password]")
    browser.get(f"{CONTROL_URL}/orgs/{ORG}/approvals")
    assert browser.current_url.endswith("/login"), "signed out: pages send you to sign in"


def test_forms_fail_without_the_csrf_token_and_change_nothing(accounts):
    status, _, session = call("POST", "/api/auth/login", body={"email": accounts["admin"], "password": PASSWORD})
    remember(session["token"])
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    form = f"_method=POST&_path=/api/orgs/{ORG}/agents&_back=/orgs/{ORG}/agents&name={name}"

    def post(body):
        request = urllib.request.Request(f"{CONTROL_URL}/orgs/{ORG}/act", data=body.encode(), method="POST",
                                         headers={"Cookie": f"rungate_session={session['token']}", "content-type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.build_opener(NoRedirect).open(request) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    for body in (form, form + "&csrf=", form + "&csrf=" + "0" * 64):
        status, page = post(body)
        assert status == 403 and "security token" in page
    agents = call("GET", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN)[2]["data"]
    assert name not in [a["name"] for a in agents], "nothing was created"
    # With a valid token, a viewer is still refused by the API itself (the console only relays).
    status, _, viewer = call("POST", "/api/auth/login", body={"email": accounts["viewer"], "password": PASSWORD})
    remember(viewer["token"])
    viewer_csrf = __import__("hashlib").sha256(f"rungate-console-csrf|{viewer['token']}".encode()).hexdigest()
    request = urllib.request.Request(f"{CONTROL_URL}/orgs/{ORG}/act", data=(form + "&csrf=" + viewer_csrf).encode(), method="POST",
                                     headers={"Cookie": f"rungate_session={viewer['token']}", "content-type": "application/x-www-form-urlencoded"})
    try:
        urllib.request.build_opener(NoRedirect).open(request)
        raise AssertionError("a viewer created an agent")
    except urllib.error.HTTPError as error:
        assert error.code == 403 and "agents.create" in error.read().decode()
    assert name not in [a["name"] for a in call("GET", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN)[2]["data"]]
    # With the session's token the same form works (and lands in the audit log as that admin).
    browser_token = __import__("hashlib").sha256(f"rungate-console-csrf|{session['token']}".encode()).hexdigest()
    status, _ = post(form + "&csrf=" + browser_token)
    assert status == 303
    assert name in [a["name"] for a in call("GET", f"/api/orgs/{ORG}/agents", token=ADMIN_TOKEN)[2]["data"]]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_pages_carry_a_strict_policy_and_are_never_framed():
    with urllib.request.urlopen(CONTROL_URL + "/login") as response:
        headers = response.headers
    assert "default-src 'none'" in headers["content-security-policy"] and "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "same-origin"
    # Signed out, an org page sends you to sign in.
    request = urllib.request.Request(f"{CONTROL_URL}/orgs/{ORG}/approvals")
    try:
        urllib.request.build_opener(NoRedirect).open(request)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as error:
        assert error.code == 303 and error.headers["location"] == "/login"
