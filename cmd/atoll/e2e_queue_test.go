package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// The TestE2ELockQueue* tests cover repos.yaml lock_queue end to end: a plan
// that finds its project locked by another pull request waits in the lock's
// queue, and runs by itself when the lock is released.

// queueTF is a resource only pull request name adds to network/.
func queueTF(name string) map[string]string {
	return map[string]string{"network/" + name + ".tf": fmt.Sprintf("resource \"terraform_data\" %q {\n  input = %q\n}\n", name, name)}
}

// apiLocks reads /api/locks of url.
func apiLocks(t *testing.T, url string) []apiLock {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, url+"/api/locks", nil, nil)
	var out struct {
		Locks []apiLock `json:"locks"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/locks: %d %v\n%s", code, err, body)
	}
	return out.Locks
}

type apiLock struct {
	Repo  string `json:"repo"`
	Dir   string `json:"dir"`
	Pull  int    `json:"pull"`
	Queue []struct {
		Position int    `json:"position"`
		Pull     int    `json:"pull"`
		HeadSHA  string `json:"head_sha"`
	} `json:"queue"`
}

// lockState says who holds network/ of repo and who waits, as "1 <- 2 3".
func lockState(t *testing.T, url string, repo vcs.Repo) string {
	t.Helper()
	for _, l := range apiLocks(t, url) {
		if l.Repo != repo.ID() || l.Dir != "network" {
			continue
		}
		s := fmt.Sprint(l.Pull)
		for i, q := range l.Queue {
			if i == 0 {
				s += " <-"
			}
			if q.Position != i+1 {
				return fmt.Sprintf("%s (entry %d has position %d)", s, i, q.Position)
			}
			s += fmt.Sprintf(" %d", q.Pull)
		}
		return s
	}
	return "free"
}

// waitLockState waits until lockState is want.
func waitLockState(t *testing.T, url string, repo vcs.Repo, want string) {
	t.Helper()
	last := ""
	waitFor(t, func() bool { last = lockState(t, url, repo); return last == want }, fmt.Sprintf("lock state %q (last %q)", want, last))
}

// assertNotPlanned checks that no plan output reached num (a comment saying
// it is queued or locked is no plan).
func assertNotPlanned(t *testing.T, gh *vcstest.Server, repo vcs.Repo, num int) {
	t.Helper()
	all := joinBodies(gh, repo, num)
	for _, bad := range []string{"to add", "terraform_data.", "Plan output"} {
		if strings.Contains(all, bad) {
			t.Errorf("PR #%d has plan output (%q) although its plan should not have run:\n%s", num, bad, all)
		}
	}
}

// TestE2ELockQueue: two pull requests queue behind a third; merging the first
// plans the second by itself, the queue survives a restart, closing the
// second plans the third. A repository with lock_queue: false keeps the
// refusal.
func TestE2ELockQueue(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	dataDir := t.TempDir()
	reposYAML := writeReposYAML(t, "repos:\n- id: /.*/\n- id: github.com/acme/refuse\n  lock_queue: false\n")
	atoll := startAtoll(t, gh, dataDir, reposYAML)
	repo := networkRepo(t, gh, "infra", t.TempDir())

	// 1. #1 plans and holds network/.
	sha1, pr1 := openPR(t, gh, repo, "pr-a", queueTF("a"), "alice")
	waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusSuccess)
	waitComment(t, gh, repo, pr1, "Plan: 2 to add")

	// 2. #2 and #3 are queued behind it, in order.
	sha2, pr2 := openPR(t, gh, repo, "pr-b", queueTF("b"), "bob")
	queued2 := waitComment(t, gh, repo, pr2, "queued behind #1", "this plan is queued (position 1) and runs when #1 releases it")
	st := waitQueued(t, gh, repo, sha2)
	if want := "queued behind #1 (position 1) for network"; st.Description != want {
		t.Errorf("#2's plan status says %q; want %q", st.Description, want)
	}
	sha3, pr3 := openPR(t, gh, repo, "pr-c", queueTF("c"), "carol")
	waitComment(t, gh, repo, pr3, "queued behind #1", "this plan is queued (position 2)")
	waitQueued(t, gh, repo, sha3)
	assertNotPlanned(t, gh, repo, pr2)
	assertNotPlanned(t, gh, repo, pr3)

	// 3. #2 pushes while queued: it keeps its one place, for its new head.
	sha2b, err := gh.Push(ctx, repo, "pr-b", map[string]string{"network/b.tf": "resource \"terraform_data\" \"b\" {\n  input = \"b2\"\n}\n"}, "b2")
	if err != nil {
		t.Fatal(err)
	}
	waitQueued(t, gh, repo, sha2b)
	waitFor(t, func() bool { return countComments(gh, repo, pr2, "this plan is queued (position 1)") == 2 },
		"#2's second comment saying it is still queued at position 1")
	comments2 := gh.Comments(repo, pr2)
	queued2b := comments2[len(comments2)-1]
	waitLockState(t, atoll.URL, repo, fmt.Sprintf("%d <- %d %d", pr1, pr2, pr3))
	for _, l := range apiLocks(t, atoll.URL) {
		if l.Dir == "network" && (len(l.Queue) != 2 || l.Queue[0].HeadSHA != sha2b) {
			t.Errorf("/api/locks queue of network = %+v; want #%d at %s first", l.Queue, pr2, sha2b[:7])
		}
	}
	// The pages show the queue: under the lock, and on the pull request.
	_, page := httpDo(t, http.MethodGet, atoll.URL+"/", nil, nil)
	if !strings.Contains(page, `<ol class="queue"><li><a href="`) || strings.Count(page, "<li>") != 2 {
		t.Errorf("locks page does not list the two queued plans under the lock:\n%s", page)
	}
	_, page = httpDo(t, http.MethodGet, fmt.Sprintf("%s/pulls/acme/infra/%d", atoll.URL, pr3), nil, nil)
	if !strings.Contains(page, "queued (position 2) for <code>network</code> (workspace <code>default</code>), locked by") {
		t.Errorf("#3's page does not say it is queued at position 2:\n%s", page)
	}
	_, metrics := httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
	if !strings.Contains(metrics, "\natoll_plans_queued 2\n") {
		t.Errorf("/metrics lacks atoll_plans_queued 2:\n%s", grep(metrics, "atoll_plans_queued"))
	}

	// 4. Merging #1 hands the lock to #2, planned by itself at its latest head.
	if err := gh.ClosePull(ctx, repo, pr1, true); err != nil {
		t.Fatal(err)
	}
	ran := waitComment(t, gh, repo, pr2, "**This plan was queued** behind #1", "#1 was merged", "Plan: 2 to add")
	if !strings.Contains(ran.Body, sha2b[:7]) || !strings.Contains(ran.Body, `"b2"`) {
		t.Errorf("#2's queued plan did not plan its latest head %s:\n%s", sha2b[:7], ran.Body)
	}
	// The plan is the comment that said it was queued (the latest), edited.
	if ran.ID != queued2b.ID || len(gh.Comments(repo, pr2)) != 2 {
		t.Errorf("#2's plan is comment %d of %d comments; want comment %d, the one that said it was queued, edited in place",
			ran.ID, len(gh.Comments(repo, pr2)), queued2b.ID)
	}
	waitStatus(t, gh, repo, sha2b, "atoll/plan", vcs.StatusSuccess)
	waitLockState(t, atoll.URL, repo, fmt.Sprintf("%d <- %d", pr2, pr3))
	if n := countComments(gh, repo, pr3, "### Plan"); n != 1 {
		t.Errorf("#3 has %d plan comments; want only the one saying it is queued", n)
	}

	// 5. A restart keeps the queue; closing #2 then plans #3.
	atoll.Stop()
	atoll = startAtoll(t, gh, dataDir, reposYAML)
	waitLockState(t, atoll.URL, repo, fmt.Sprintf("%d <- %d", pr2, pr3))
	if err := gh.ClosePull(ctx, repo, pr2, false); err != nil {
		t.Fatal(err)
	}
	ran3 := waitComment(t, gh, repo, pr3, "**This plan was queued** behind #2", "#2 was closed", "Plan: 2 to add")
	if n := len(gh.Comments(repo, pr3)); n != 1 {
		t.Errorf("#3 has %d comments; want its queued comment edited into the plan", n)
	}
	waitStatus(t, gh, repo, sha3, "atoll/plan", vcs.StatusSuccess)
	waitLockState(t, atoll.URL, repo, fmt.Sprint(pr3))

	// 6. A pull request closed while queued leaves the queue.
	sha4, pr4 := openPR(t, gh, repo, "pr-d", queueTF("d"), "dave")
	waitQueued(t, gh, repo, sha4)
	waitLockState(t, atoll.URL, repo, fmt.Sprintf("%d <- %d", pr3, pr4))
	if err := gh.ClosePull(ctx, repo, pr4, false); err != nil {
		t.Fatal(err)
	}
	waitLockState(t, atoll.URL, repo, fmt.Sprint(pr3))
	_, metrics = httpDo(t, http.MethodGet, atoll.URL+"/metrics", nil, nil)
	if !strings.Contains(metrics, "\natoll_plans_queued 0\n") {
		t.Errorf("/metrics lacks atoll_plans_queued 0:\n%s", grep(metrics, "atoll_plans_queued"))
	}

	// 7. With lock_queue: false the plan is refused, as before, and a
	// release plans nothing by itself.
	refuse := networkRepo(t, gh, "refuse", t.TempDir())
	shaR1, r1 := openPR(t, gh, refuse, "pr-a", queueTF("a"), "alice")
	waitStatus(t, gh, refuse, shaR1, "atoll/plan", vcs.StatusSuccess)
	_, r2 := openPR(t, gh, refuse, "pr-b", queueTF("b"), "bob")
	refused := waitComment(t, gh, refuse, r2, "locked by #1", "so it was not planned here")
	if strings.Contains(refused.Body, "queued") {
		t.Errorf("lock_queue: false, yet #2 was queued:\n%s", refused.Body)
	}
	waitLockState(t, atoll.URL, refuse, fmt.Sprint(r1))
	if err := gh.ClosePull(ctx, refuse, r1, true); err != nil {
		t.Fatal(err)
	}
	waitLockState(t, atoll.URL, refuse, "free")
	waitFor(t, func() bool {
		return strings.Contains(grep(atoll.log.String(), "pull request closed; locks released"), "acme/refuse")
	}, "the close job of acme/refuse#1")
	if handed := grep(atoll.log.String(), "lock handed over"); strings.Contains(handed, "acme/refuse") {
		t.Errorf("a lock of acme/refuse (lock_queue: false) was handed over:\n%s", handed)
	}
	assertNotPlanned(t, gh, refuse, r2)

	t.Logf("what #2 saw while queued:\n%s\n\nwhat #2 saw when its turn came:\n%s\n\nwhat #3 saw when its turn came:\n%s\n\nwith lock_queue: false:\n%s",
		queued2.Body, ran.Body, ran3.Body, refused.Body)
}

// TestE2ELockQueueReplicas: two replicas share the queue through Redis; the
// plan queued through one runs when the other handles the release.
func TestE2ELockQueueReplicas(t *testing.T) {
	t.Parallel()
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	flags := append(redisFlags(t, testenv.RedisServer(t)), "--lock-reconcile-interval=1h")
	a := startAtoll(t, gh, t.TempDir(), flags...)
	b := startAtoll(t, gh, t.TempDir(), flags...)
	repo := networkRepo(t, gh, "infra", t.TempDir())

	gh.SetWebhookURL(a.URL + "/events")
	sha1, pr1 := openPR(t, gh, repo, "pr-a", queueTF("a"), "alice")
	waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusSuccess)
	sha2, pr2 := openPR(t, gh, repo, "pr-b", queueTF("b"), "bob")
	waitComment(t, gh, repo, pr2, "this plan is queued (position 1)")
	waitQueued(t, gh, repo, sha2)
	// Replica B sees the queue replica A wrote.
	waitLockState(t, b.URL, repo, fmt.Sprintf("%d <- %d", pr1, pr2))

	// B handles the merge; #2 is planned (by whichever replica takes the job).
	gh.SetWebhookURL(b.URL + "/events")
	if err := gh.ClosePull(ctx, repo, pr1, true); err != nil {
		t.Fatal(err)
	}
	waitComment(t, gh, repo, pr2, "**This plan was queued** behind #1", "#1 was merged", "Plan: 2 to add")
	waitStatus(t, gh, repo, sha2, "atoll/plan", vcs.StatusSuccess)
	waitLockState(t, a.URL, repo, fmt.Sprint(pr2))
	if n := len(logLines(a.log.String()+b.log.String(), "lock handed over")); n != 1 {
		t.Errorf("the lock was handed over %d times; want once:\n%s", n, grep(a.log.String()+b.log.String(), "lock handed over"))
	}
}

// waitQueued waits for the pending atoll/plan status a queued plan leaves on
// sha ("queued behind #N …"): pending, not failed, since it runs by itself.
func waitQueued(t *testing.T, gh *vcstest.Server, repo vcs.Repo, sha string) vcs.Status {
	t.Helper()
	var got vcs.Status
	waitFor(t, func() bool {
		for _, st := range gh.Statuses(repo, sha) {
			if st.Context == "atoll/plan" && st.State == vcs.StatusPending && strings.HasPrefix(st.Description, "queued behind") {
				got = st
				return true
			}
		}
		return false
	}, "the pending queued status on "+sha)
	return got
}
