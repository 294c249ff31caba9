package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
)

// subnetTF is a one-resource change for a networkRepo pull request.
const subnetTF = "resource \"terraform_data\" \"subnet\" {\n  input = \"10.0.1.0/24\"\n}\n"

// A webhook that arrives while redis-server is stopped is answered 202, kept
// in the replica's local spool, and planned once Redis is back: GitHub does
// not redeliver by itself, so a 503 would have lost it.
func TestE2EWebhooksSpooledWhileRedisDown(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	rd := testenv.RestartableRedis(t)
	atoll := startAtoll(t, gh, t.TempDir(), append(redisFlags(t, rd.Addr), "--pr-poll-interval=0")...)
	repo := networkRepo(t, gh, "infra", t.TempDir())

	rd.Stop()
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	ds := gh.Deliveries()
	last := ds[len(ds)-1]
	if last.Event != "pull_request" || last.Status != http.StatusAccepted {
		t.Fatalf("webhook while Redis is down answered %d (%s), want 202", last.Status, last.Err)
	}
	waitFor(t, func() bool { return len(logLines(atoll.log.String(), "webhook kept in the local spool")) > 0 }, "the spool log line")
	// Nothing can run while the store is down.
	time.Sleep(2 * time.Second)
	if n := len(gh.Comments(repo, pr)); n != 0 {
		t.Fatalf("%d comments on #%d while Redis was down", n, pr)
	}
	_, body := httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
	if !strings.Contains(body, "atoll_webhooks_spooled 1") {
		t.Errorf("metrics do not show the spooled webhook:\n%s", grepLines(body, "spool"))
	}

	rd.Start()
	waitComment(t, gh, repo, pr, "Plan: 2 to add, 0 to change, 0 to destroy.")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
		return strings.Contains(body, "atoll_webhooks_spooled 0")
	}, "the spool to empty")
	if n := countComments(gh, repo, pr, "Plan: 2 to add"); n != 1 {
		t.Errorf("%d plan comments on #%d, want 1", n, pr)
	}
}

// A pull request opened while Atoll was down (its webhook was lost) is
// planned by the poller when Atoll is back, and the locks of a pull request
// closed meanwhile are released; an unchanged repository then costs only
// 304 answers, and nothing is planned twice.
func TestE2EPollerCatchesUpOnMissedWebhooks(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	dataDir := t.TempDir()
	flags := []string{"--pr-poll-interval=1s", "--lock-reconcile-interval=1h"}
	atoll := startAtoll(t, gh, dataDir, flags...)
	repo := networkRepo(t, gh, "infra", t.TempDir())
	_, pr1 := openPR(t, gh, repo, "first", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitComment(t, gh, repo, pr1, "Plan: 2 to add")
	if _, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil); !strings.Contains(body, `"pull":1`) {
		t.Fatalf("#%d holds no lock: %s", pr1, body)
	}
	atoll.Stop()

	// While Atoll is down: #1 is closed and #2 opened; both webhooks fail.
	ctx := waitCtx(t)
	_ = gh.ClosePull(ctx, repo, pr1, false) // its webhook cannot be delivered
	sha2, err := gh.Push(ctx, repo, "second", map[string]string{"network/subnet.tf": strings.ReplaceAll(subnetTF, "10.0.1.0", "10.0.2.0")}, "second")
	if err != nil {
		t.Fatal(err)
	}
	pr2, err := gh.OpenPull(ctx, repo, "second", "main", "Second", "bob")
	if err == nil {
		t.Fatalf("the opened webhook reached a stopped server")
	}
	ds := gh.Deliveries()
	if d := ds[len(ds)-1]; d.Status != 0 {
		t.Fatalf("last delivery answered %d, want a failed delivery", d.Status)
	}

	atoll = startAtoll(t, gh, dataDir, flags...)
	waitComment(t, gh, repo, pr2, "Plan: 2 to add")
	waitStatus(t, gh, repo, sha2, "atoll/plan", vcs.StatusSuccess)
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil)
		return !strings.Contains(body, `"pull":1,`) && strings.Contains(body, `"pull":2`)
	}, "#1's lock to be released and #2 to hold one")
	if lines := logLines(atoll.log.String(), "poller found a pull request head with no plan"); len(lines) != 1 {
		t.Errorf("poller autoplanned %d times, want once:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// Later rounds find nothing new: conditional requests answered 304.
	_, nm0 := gh.PullLists()
	waitFor(t, func() bool { _, nm := gh.PullLists(); return nm >= nm0+3 }, "three 304 answers")
	if n := countComments(gh, repo, pr2, "Plan: 2 to add"); n != 1 {
		t.Errorf("%d plan comments on #%d, want 1", n, pr2)
	}
	if n := countComments(gh, repo, pr1, "Plan: 2 to add"); n != 1 {
		t.Errorf("%d plan comments on closed #%d, want the 1 from before", n, pr1)
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// An autoplan of a one-project pull request that plans within
// --live-comment-delay makes four GitHub API calls: the changed files, a pending status,
// one comment (no "running" comment edited afterwards) and the final status.
// Its apply makes four too: the commenter's permission, the pull request,
// the comment and the final status (the pending one is held back).
func TestE2EAutoplanGitHubCalls(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	// A delay no plan here reaches, however loaded the machine.
	atoll := startAtoll(t, gh, t.TempDir(), "--pr-poll-interval=0", "--live-comment-delay=2m")
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha, pr := openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr, "Plan: 2 to add")
	// The fake records a status before Atoll's client counts the call:
	// wait for the job to end, then count.
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs?state=succeeded", nil, nil)
		return strings.Contains(body, `"kind":"autoplan"`)
	}, "the autoplan job to finish")
	before, calls := githubCalls(t, atoll)
	if before != 4 {
		t.Errorf("an autoplan made %d GitHub API calls, want 4: %v", before, calls)
	}
	if n := len(gh.Comments(repo, pr)); n != 1 {
		t.Errorf("%d comments, want 1", n)
	}

	// An apply: the commenter's permission, the pull request, the comment
	// and the status. Its pending status is held back like its comment.
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitStatus(t, gh, repo, sha, "atoll/apply", vcs.StatusSuccess)
	waitFor(t, func() bool {
		_, body := httpDo(t, http.MethodGet, atoll.URL+"/api/jobs?state=succeeded", nil, nil)
		return strings.Contains(body, `"command":"apply"`)
	}, "the apply job to finish")
	after, calls := githubCalls(t, atoll)
	if after-before != 4 {
		t.Errorf("an apply made %d GitHub API calls, want 4: %v", after-before, calls)
	}
	for _, st := range gh.Statuses(repo, sha) {
		if st.Context == "atoll/apply" && st.State == vcs.StatusPending {
			t.Errorf("a quick apply set a pending status %q; it is held back for --live-comment-delay", st.Description)
		}
	}
}

// githubCalls reads Atoll's count of GitHub API calls from /metrics: the
// total, and each series.
func githubCalls(t *testing.T, atoll *atollProc) (int, map[string]int) {
	t.Helper()
	_, metrics := httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
	calls := map[string]int{}
	total := 0
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, "atoll_github_requests_total{") {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(l[strings.LastIndexByte(l, ' ')+1:], "%d", &n); err != nil {
			t.Fatalf("read %q: %v", l, err)
		}
		calls[l[:strings.LastIndexByte(l, ' ')]] = n
		total += n
	}
	return total, calls
}
