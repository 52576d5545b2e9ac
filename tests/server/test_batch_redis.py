"""Batch tasks on a shared store: a real redis-server (AOF on) and two or three
real servers with one batch_dir (a temporary directory standing in for NFS).
An upload to one server is polled and downloaded from another; a task is run
by exactly one server; the server running a task is killed with kill -9 and
another finishes it once its claim runs out, never before; servers started
together on a task left processing run it once (its rows are counted once);
SIGTERM hands a task over at once."""
import concurrent.futures
import itertools
import re
import signal
import subprocess
import time

import pytest
import requests

from conftest import BIN, Server
from dnsfix import ZONE, DnsFixture
from redisfix import RedisFixture

BATCH = "/v1/external-api-requests/batch-check-emails"
LEASE = "6"  # seconds: --batch-lease of every server here


@pytest.fixture
def redis(tmp_path):
    r = RedisFixture(tmp_path)
    yield r
    r.stop()


@pytest.fixture
def dns(tmp_path):
    d = DnsFixture(tmp_path, [])
    yield d
    d.stop()


@pytest.fixture
def shared(tmp_path, redis):
    """make(*flags): a server on the Redis fixture with the shared batch_dir;
    the first one made prints the keys the others use."""
    servers = []
    batch_dir = tmp_path / "shared-batch"
    numbers = itertools.count()  # two threads may make servers at once

    def make(*flags):
        d = tmp_path / f"s{next(numbers)}"
        d.mkdir()
        keys = (servers[0].admin_key, servers[0].key) if servers else None
        s = Server(d, "--batch-dir", str(batch_dir), "--batch-lease", LEASE, *flags,
                   store=redis.url, keys=keys)
        servers.append(s)
        return s

    make.batch_dir = batch_dir
    make.redis = redis
    make.servers = servers
    yield make
    for s in servers:
        s.stop(signal.SIGKILL)


def upload(server, name, data, project="shared"):
    r = requests.post(server.url + BATCH, headers={"Authorization": f"Bearer {server.key}"},
                      data={"project_name": project}, files={"file": (name, data)}, timeout=30)
    assert r.status_code == 200, (r.text, server.stderr())
    return r.json()["task_id"]


def get(server, path="", key=None, method="GET"):
    return requests.request(method, server.url + BATCH + path, timeout=30,
                            headers={"Authorization": f"Bearer {key or server.key}"})


def wait(server, task, until=("completed", "failed"), timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = get(server, "/" + task)
        assert r.status_code == 200, r.text
        if r.json()["status"] in until:
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"task {task} still {r.json()}")


def metric(server, name, labels=""):
    text = requests.get(server.url + "/metrics", timeout=10).text
    m = re.search(rf"^{re.escape(name + labels)} (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def batch_usage(server):
    r = requests.get(server.url + "/v1/admin/usage", timeout=10,
                     headers={"Authorization": f"Bearer {server.admin_key}"})
    assert r.status_code == 200, r.text
    return r.json()["batch"]


STUCK = 40  # rows that wait on DNS, each until the resolver gives up (seconds)
ROWS = STUCK + 50


def stuck_file(before=0, after=50):
    """STUCK addresses each on a domain of its own in the black-hole zone,
    each waiting for DNS until the resolver gives up (on a server with the
    fixture resolver), between `before` and `after` plain ones: a task that
    runs for minutes there, at once without DNS."""
    return ("email\n" + "".join(f"w{i}@gmail.com\n" for i in range(before)) +
            "".join(f"u{i}@h{i}.blackhole.{ZONE}\n" for i in range(STUCK)) +
            "".join(f"v{i}@gmail.com\n" for i in range(after))).encode()


def running_on(servers, task, timeout=60, rows=ROWS):
    """The one server running task (its rows counted: it is in the DNS waits)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        busy = [s for s in servers if metric(s, "usercleaning_batch_running") == 1]
        st = get(servers[0], "/" + task).json()
        if len(busy) == 1 and st["status"] == "processing" and st["rows_total"] == rows:
            return busy[0]
        time.sleep(0.05)
    # seen once in a fresh-clone CI run, not since: say what there was
    raise AssertionError(f"no server runs the task: {len(busy)} busy, task {st}; stderr: " +
                         " | ".join(s.stderr()[-1500:] for s in servers))


CSV = ("Name,E-Mail\r\n"
       "Ann,ann@gmail.com\r\n"
       "Bob,bob@mailinator.com\r\n"
       "Cy,\"cy+news@gmail.com\"\r\n"
       "Dee,not an address\r\n"
       ",\r\n"
       "Ann again,ANN@gmail.com\r\n").encode()


def test_upload_on_one_server_status_and_download_on_the_others(shared, tmp_path):
    a, b, c = shared(), shared(), shared()
    task = upload(a, "people.csv", CSV)
    st = wait(b, task)  # any server answers status
    assert st["status"] == "completed" and st["rows_total"] == 6 and st["counts"]["duplicates"] == 1
    from_b, from_c = get(b, f"/{task}/download"), get(c, f"/{task}/download")
    assert from_b.status_code == 200 and from_c.status_code == 200
    assert from_b.content == from_c.content == get(a, f"/{task}/download").content
    assert from_b.headers["Content-Disposition"] == 'attachment; filename="people_cleaned.csv"'
    # the same bytes as one server on its own SQLite store makes of that upload
    d = tmp_path / "alone"
    d.mkdir()
    alone = Server(d)
    try:
        r = requests.post(alone.url + BATCH, headers={"Authorization": f"Bearer {alone.key}"},
                          data={"project_name": "shared"}, files={"file": ("people.csv", CSV)},
                          timeout=30)
        mine = r.json()["task_id"]
        wait(alone, mine)
        assert get(alone, f"/{mine}/download").content == from_b.content
    finally:
        alone.stop(signal.SIGKILL)
    lines = from_b.content.decode().split("\r\n")
    assert lines[0] == "Name,E-Mail,category,domain_type,mx_record,did_you_mean"
    assert lines[1].startswith("Bob,bob@mailinator.com,black,disposable,")
    # a second task through B: tasks and batch usage are the store's, seen by every server
    second = upload(b, "more.txt", b"x@gmail.com\ny@mailinator.com\n", project="second")
    wait(c, second)
    listed = [t["task_id"] for t in get(c).json()["tasks"]]
    assert listed == [second, task]  # newest first, from the third server
    counted = [get(a, "/" + t).json()["counts"] for t in (task, second)]
    expected = {c: sum(n[c] for n in counted) for c in ("white", "grey", "black")}
    expected["total"] = sum(expected.values())
    assert expected["total"] == 6  # 4 rows of the first (a blank row and a duplicate aside), 2
    assert batch_usage(a) == batch_usage(c) == expected
    assert sum(metric(s, "usercleaning_batch_tasks_total", '{status="completed"}')
               for s in (a, b, c)) == 2  # each task ran once
    # deleted through C: gone for A, and so are its files in the shared batch_dir
    assert get(c, "/" + task, method="DELETE").json() == {"task_id": task, "deleted": True}
    assert get(a, "/" + task).status_code == 404
    assert not list(shared.batch_dir.glob(f"*/{task}"))
    assert list(shared.batch_dir.glob(f"*/{second}/result.csv"))


BIG = 100_000  # plain rows before and after the stuck ones in the big task


def test_kill_9_of_the_server_running_a_task_and_another_finishes_it_after_the_claim(
        shared, dns, tmp_path):
    """A big task (200,040 rows, 4 MB) stuck on DNS on A; B sees its progress,
    never takes it while A lives, takes it over once A is killed and its claim
    ran out, and makes the same file one server alone makes of it."""
    rows = STUCK + 2 * BIG
    data = stuck_file(before=BIG, after=BIG)
    a = shared("--dns-server", dns.server, "--dns-timeout", "60000")  # its task waits on DNS
    task = upload(a, "big.csv", data)
    assert running_on([a], task, rows=rows) is a
    b = shared()  # no DNS: once it has the task, it finishes it at once
    time.sleep(2.5 * int(LEASE))  # well past a claim: A renews it, B never takes it
    assert metric(b, "usercleaning_batch_running") == 0
    assert metric(b, "usercleaning_batch_claims_expired_total", '{result="taken_over"}') == 0
    st = get(b, "/" + task).json()
    assert st["status"] == "processing" and st["rows_total"] == rows
    assert get(b, f"/{task}/download").json() == {"detail": "Task is still processing"}
    a.stop(signal.SIGKILL)
    st = wait(b, task)
    assert st["status"] == "completed" and st["rows_done"] == rows
    result = get(b, f"/{task}/download").content
    out = result.decode().splitlines()
    assert len(out) == rows + 1 and out[BIG + 1].startswith(f"u0@h0.blackhole.{ZONE},")
    assert metric(b, "usercleaning_batch_claims_expired_total", '{result="taken_over"}') == 1
    assert f"batch task {task}: taken over from" in b.stderr()
    assert batch_usage(b)["total"] == rows  # counted once: A never finished it
    left = sorted(p.name for p in shared.batch_dir.glob(f"*/{task}/*"))
    assert left == ["result.csv", "upload.csv"]  # nothing of A's run is left
    d = tmp_path / "alone"
    d.mkdir()
    alone = Server(d)  # SQLite, no DNS, as B
    try:
        mine = upload(alone, "big.csv", data)
        wait(alone, mine)
        assert get(alone, f"/{mine}/download").content == result
    finally:
        alone.stop(signal.SIGKILL)


def test_servers_started_together_on_a_task_left_processing_run_it_once(shared, dns):
    a = shared("--dns-server", dns.server, "--dns-timeout", "60000")
    task = upload(a, "slow.csv", stuck_file())
    running_on([a], task)
    a.stop(signal.SIGKILL)  # left processing, claimed by a server that is gone
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        b, c = pool.map(lambda _: shared(), range(2))
    st = wait(c, task)
    assert st["status"] == "completed" and st["rows_done"] == ROWS
    done = [metric(s, "usercleaning_batch_tasks_total", '{status="completed"}') for s in (b, c)]
    assert sorted(done) == [0, 1]  # one of them ran it
    assert batch_usage(b) == {"white": ROWS, "grey": 0, "black": 0, "total": ROWS}  # rows counted once
    time.sleep(1.5 * int(LEASE))  # and nobody runs it again later
    assert batch_usage(c)["total"] == ROWS
    assert sum(metric(s, "usercleaning_batch_tasks_total", '{status="completed"}')
               for s in (b, c)) == 1
    taken = [s for s in (b, c) if f"batch task {task}: taken over from" in s.stderr()]
    assert len(taken) == 1


def test_sigterm_hands_the_task_to_another_server_at_once(shared, dns):
    a = shared("--dns-server", dns.server, "--dns-timeout", "60000", "--batch-lease", "600")
    task = upload(a, "slow.csv", stuck_file())
    running_on([a], task)
    b = shared("--batch-lease", "600")  # a claim that ran out would take ten minutes
    assert a.stop(signal.SIGTERM) == 0  # stops at the next row and releases the task
    st = wait(b, task, timeout=60)
    assert st["status"] == "completed" and st["rows_done"] == ROWS
    assert batch_usage(b)["total"] == ROWS
    assert "taken over" not in b.stderr()  # released, not run out


def test_migrating_a_store_with_batch_tasks_to_redis(tmp_path, redis, dns):
    """store migrate copies tasks and batch usage: a completed task downloads
    the same bytes from a server on Redis with the same batch_dir, and a task
    left processing by the old server is run there, counted once."""
    d = tmp_path / "single"
    d.mkdir()
    one = Server(d, "--dns-server", dns.server, "--dns-timeout", "60000")  # SQLite
    done = upload(one, "people.csv", CSV)
    before = wait(one, done)
    result = get(one, f"/{done}/download").content
    usage = batch_usage(one)
    assert usage["total"] == 4
    left = upload(one, "slow.csv", stuck_file())
    running_on([one], left)
    one.stop(signal.SIGKILL)  # left processing
    p = subprocess.run([BIN, "store", "migrate", "--from", f"sqlite://{one.db}", "--to", redis.url],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "2 batch tasks, 1 batch usage days" in p.stdout, p.stdout
    d = tmp_path / "on-redis"
    d.mkdir()
    two = Server(d, "--batch-dir", one.batch_dir, "--batch-lease", LEASE, store=redis.url,
                 keys=(one.admin_key, one.key))
    try:
        assert get(two, "/" + done).json() == before
        assert get(two, f"/{done}/download").content == result
        st = wait(two, left)  # the old server's claim is no one's here: run at once
        assert st["status"] == "completed" and st["rows_done"] == ROWS
        assert batch_usage(two)["total"] == 4 + ROWS
        assert [t["task_id"] for t in get(two).json()["tasks"]] == [left, done]
    finally:
        two.stop(signal.SIGKILL)


def test_servers_with_a_batch_dir_each_say_so(tmp_path, redis, dns):
    """Servers on one Redis whose batch_dirs differ (a deployment mistake):
    a download from the server without the file is a 500 in words, and a task
    whose upload it cannot see is left to the server that has it, with a
    warning in the log."""
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a = Server(a_dir, "--dns-server", dns.server, "--dns-timeout", "60000",
               "--batch-lease", LEASE, store=redis.url)
    b = Server(b_dir, "--batch-lease", LEASE, store=redis.url, keys=(a.admin_key, a.key))
    try:
        task = upload(a, "people.csv", CSV)
        assert wait(b, task)["status"] == "completed"  # the store is shared: status anywhere
        r = get(b, f"/{task}/download")
        assert r.status_code == 500
        assert r.json() == {"detail": "The result file of this task is missing from this "
                                      "server's batch directory."}
        assert f"batch task {task} is completed but its result" in b.stderr()
        assert get(a, f"/{task}/download").content.startswith(b"Name,E-Mail,category")
        slow = upload(a, "slow.csv", stuck_file())
        running_on([a, b], slow)  # A's only worker is busy: the next upload waits
        waiting = upload(a, "later.txt", b"x@gmail.com\n")
        deadline = time.time() + 30
        while "whose upload is not in this server's batch_dir" not in b.stderr():
            assert time.time() < deadline, b.stderr()
            time.sleep(0.1)
        assert get(b, "/" + waiting).json()["status"] == "processing"  # B never ran it
        assert metric(b, "usercleaning_batch_tasks_total", '{status="completed"}') == 0
    finally:
        a.stop(signal.SIGKILL)
        b.stop(signal.SIGKILL)


def test_redis_down_the_batch_routes_say_so_and_the_task_goes_on_after(shared):
    """Redis stopped: status, listing and uploads answer 503 in words (nothing
    half-written), checks keep answering; Redis back on its AOF: the tasks are
    there and an upload made before completes."""
    a, b = shared(), shared()
    task = upload(a, "people.csv", CSV)
    wait(b, task)
    redis = shared.redis
    redis.stop()
    try:
        for r in (get(b, "/" + task), get(b),
                  requests.post(a.url + BATCH, headers={"Authorization": f"Bearer {a.key}"},
                                data={"project_name": "down"},
                                files={"file": ("x.csv", b"email\nx@gmail.com\n")}, timeout=30)):
            assert r.status_code == 503, r.text
            assert r.json()["detail"].startswith("The store cannot be used for batch tasks: redis ")
        assert a.check("a@gmail.com").status_code == 200
    finally:
        redis.start()
    deadline = time.time() + 30
    while get(b, "/" + task).status_code != 200:
        assert time.time() < deadline
        time.sleep(0.1)
    assert [t["task_id"] for t in get(a).json()["tasks"]] == [task]  # the refused upload left nothing
    assert not list(shared.batch_dir.glob("tmp/*"))
    again = upload(b, "more.txt", b"y@gmail.com\n")
    assert wait(a, again)["status"] == "completed"


def test_a_server_stalled_past_its_claim_gives_the_task_way(shared, dns):
    """SIGSTOP of the server running a task for longer than the lease: another
    server takes it over and finishes it; once the stalled one runs again it
    stops that run at its next row (its claim is gone), and its run leaves no
    file and no usage: the task is counted once, its result is the finisher's."""
    a = shared("--dns-server", dns.server, "--dns-timeout", "3000")  # each row waits 3 s
    task = upload(a, "slow.csv", stuck_file())
    running_on([a], task)
    b = shared()
    a.proc.send_signal(signal.SIGSTOP)
    try:
        st = wait(b, task)  # once A's claim has run out
        assert st["status"] == "completed" and st["rows_done"] == ROWS
    finally:
        a.proc.send_signal(signal.SIGCONT)
    deadline = time.time() + 60
    while metric(a, "usercleaning_batch_claims_expired_total", '{result="lost"}') != 1:
        assert time.time() < deadline, a.stderr()
        time.sleep(0.1)
    assert metric(a, "usercleaning_batch_running") == 0
    assert f"batch task {task}: another server took it over" in a.stderr()
    assert metric(a, "usercleaning_batch_tasks_total", '{status="completed"}') == 0
    assert metric(b, "usercleaning_batch_claims_expired_total", '{result="taken_over"}') == 1
    assert get(a, "/" + task).json() == get(b, "/" + task).json()  # still B's completed task
    assert batch_usage(a)["total"] == ROWS
    left = sorted(p.name for p in shared.batch_dir.glob(f"*/{task}/*"))
    assert left == ["result.csv", "upload.csv"]
    out = get(a, f"/{task}/download").content.decode().splitlines()
    assert len(out) == ROWS + 1 and all(",unknown," in line for line in out[1:])  # B: no DNS
