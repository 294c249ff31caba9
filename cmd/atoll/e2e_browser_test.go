package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/testdrive"
	"github.com/atollhq/atoll/vcs"
)

// lockRow is one row of the Locks page's table, as the browser renders it.
type lockRow struct {
	ID        string   `json:"id"`
	Cells     []string `json:"cells"`
	RepoTitle string   `json:"repoTitle"`
	PullHref  string   `json:"pullHref"`
	PullText  string   `json:"pullText"`
	TimeText  string   `json:"timeText"`
	TimeTitle string   `json:"timeTitle"`
	Button    string   `json:"button"`
}

// readLockRows reads every lock row of the page in the browser: the cells'
// rendered text, the pull request link and the time element.
const readLockRows = `Array.from(document.querySelectorAll('#locks tr[data-lock-id]')).map(r => {
	const a = r.querySelector('a'), tm = r.querySelector('time'), b = r.querySelector('button');
	return {
		id: r.dataset.lockId,
		cells: Array.from(r.cells).slice(0, 5).map(c => c.innerText.trim()),
		repoTitle: r.cells[0].title,
		pullHref: a ? a.href : '', pullText: a ? a.innerText.trim() : '',
		timeText: tm ? tm.innerText.trim() : '', timeTitle: tm ? tm.title : '',
		button: b ? b.innerText.trim() : '',
	};
})`

// agoText is the Locks page's relative time for a lock taken moments ago.
var agoText = regexp.MustCompile(`^(just now|\d+ minutes? ago)$`)

// TestE2EBrowserLocksPage drives a real headless Chromium through the Locks
// page: a PR's lock is listed with its details, and the Unlock button releases
// it.
func TestE2EBrowserLocksPage(t *testing.T) {
	t.Parallel()
	chromium := lookChromium(t)
	gh := fakeGitHub(t)
	ctx := waitCtx(t)
	atoll := startAtoll(t, gh, t.TempDir())
	files := testdrive.SampleFiles(t.TempDir())
	repo, err := gh.CreateRepo(ctx, "acme", "infra", files)
	if err != nil {
		t.Fatal(err)
	}
	sha, err := gh.Push(ctx, repo, "add-web", map[string]string{"network/main.tf": files["network/main.tf"] + webTF}, "add web")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := gh.OpenPull(ctx, repo, "add-web", "main", "Add web", "alice")
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, gh, repo, sha, "atoll/plan", vcs.StatusSuccess)
	tookLock := time.Now()

	cctx := newChromium(t, chromium)

	// 1. The page lists the lock.
	resp, err := chromedp.Run(cctx, chromedp.NavigateResponse(atoll.URL+"/"))
	if err != nil {
		t.Fatalf("open the Locks page: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("GET / answered %d", resp.Status)
	}
	if err := chromedp.Do(cctx, chromedp.WaitVisible(chromedp.CSS("#locks tr[data-lock-id]"))); err != nil {
		t.Fatalf("wait for the lock row: %v", err)
	}
	title, err := chromedp.Run(cctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "Locks · Atoll" {
		t.Errorf("page title = %q, want %q", title, "Locks · Atoll")
	}
	rows, err := chromedp.Run(cctx, chromedp.Evaluate[[]lockRow](readLockRows))
	if err != nil {
		t.Fatalf("read the lock rows: %v", err)
	}
	if len(rows) != 1 {
		t.Fatalf("the page lists %d locks, want 1: %+v", len(rows), rows)
	}
	row := rows[0]
	prRef := fmt.Sprintf("#%d", pr)
	wantCells := []string{"acme/infra", "network", "default", prRef, "alice"}
	if diff := cmp.Diff(wantCells, row.Cells); diff != "" {
		t.Errorf("lock row cells (-want +got):\n%s", diff)
	}
	if row.ID != "github.com%2Facme%2Finfra|network|default" || row.RepoTitle != "github.com/acme/infra" {
		t.Errorf("lock row id %q, repo title %q: want the lock's key and the repo's full id", row.ID, row.RepoTitle)
	}
	if want := fmt.Sprintf("%s/acme/infra/pull/%d", gh.URL(), pr); row.PullHref != want || row.PullText != prRef {
		t.Errorf("pull request link = %q %q, want %q %q", row.PullText, row.PullHref, prRef, want)
	}
	if !agoText.MatchString(row.TimeText) {
		t.Errorf("lock time shows %q, want relative text like \"just now\"", row.TimeText)
	}
	since, err := time.Parse("2006-01-02 15:04:05 MST", row.TimeTitle)
	if err != nil {
		t.Errorf("lock time's title %q is not the exact time: %v", row.TimeTitle, err)
	} else if d := tookLock.Sub(since); d < -time.Second || d > 5*time.Minute {
		t.Errorf("lock time's title %q is %v before the plan finished, want moments", row.TimeTitle, d)
	}
	if row.Button != "Unlock" {
		t.Errorf("row button says %q, want Unlock", row.Button)
	}

	// A screenshot of the page with the lock is a real PNG image.
	shot, err := chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shotPath := filepath.Join(t.TempDir(), "locks-page.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot (%d bytes) is not a PNG: %v", len(shot), err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("screenshot is %v, want a full page", b)
	}

	// 2. Unlock: the form posts, redirects back with a flash, and the table is gone.
	if err := chromedp.Do(cctx,
		chromedp.Click(chromedp.CSS(`tr[data-lock-id] button.unlock`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("no-locks")),
	); err != nil {
		t.Fatalf("click Unlock: %v", err)
	}
	loc, err := chromedp.Run(cctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, atoll.URL+"/?unlocked=") {
		t.Errorf("after Unlock the page is %q, want the Locks page with ?unlocked=", loc)
	}
	flash, err := chromedp.Run(cctx, chromedp.Text(chromedp.CSS(".flash")))
	if err != nil {
		t.Fatalf("read the flash: %v", err)
	}
	if !strings.Contains(flash, "Unlocked network (default)") {
		t.Errorf("flash = %q, want it to say %q", flash, "Unlocked network (default)")
	}
	noTable, err := chromedp.Run(cctx, chromedp.Evaluate[bool](`document.querySelector('#locks') === null`))
	if err != nil {
		t.Fatal(err)
	}
	if !noTable {
		t.Error("the locks table is still on the page after Unlock")
	}

	// 3. The API agrees: no locks are held.
	code, body := httpDo(t, http.MethodGet, atoll.URL+"/api/locks", nil, nil)
	var api struct {
		Locks []json.RawMessage `json:"locks"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/locks: %d %v\n%s", code, err, body)
	}
	if len(api.Locks) != 0 {
		t.Errorf("GET /api/locks after Unlock lists %d locks, want none:\n%s", len(api.Locks), body)
	}
}

// lookChromium finds Debian's chromium, failing (never skipping) the test
// with how to install it.
func lookChromium(t *testing.T) string {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): install it with `apt-get install -y chromium`", err)
	}
	return chromium
}

// newChromium starts headless Chromium for the test (bounded to a minute in
// all) and returns its tab's context; its output is logged if the test fails.
func newChromium(t *testing.T, chromium string) context.Context {
	t.Helper()
	bctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	var browserLog syncBuffer
	actx, cancelAlloc := chromedp.NewExecAllocator(bctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // the tests run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Without these, Chromium dials Google at start, and this machine's
		// closed network refuses the connections.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 700),
		chromedp.CombinedOutput(&browserLog),
	)
	cctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", browserLog.String())
		}
	})
	return cctx
}

// TestE2EBrowserLockQueue: in Chromium, the Locks page lists the plans queued
// behind a lock, in order, each linking to its pull request, and the pull
// request page of a queued pull request says where it stands.
func TestE2EBrowserLockQueue(t *testing.T) {
	t.Parallel()
	chromium := lookChromium(t)
	gh := fakeGitHub(t)
	atoll := startAtoll(t, gh, t.TempDir())
	repo := networkRepo(t, gh, "infra", t.TempDir())
	sha1, pr1 := openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitStatus(t, gh, repo, sha1, "atoll/plan", vcs.StatusSuccess)
	_, pr2 := openPR(t, gh, repo, "dns", map[string]string{"network/dns.tf": dnsTF}, "carol")
	waitComment(t, gh, repo, pr2, "queued (position 1)")
	_, pr3 := openPR(t, gh, repo, "cdn", map[string]string{"network/cdn.tf": cdnTF}, "dave")
	waitComment(t, gh, repo, pr3, "queued (position 2)")

	cctx := newChromium(t, chromium)
	if _, err := chromedp.Run(cctx, chromedp.NavigateResponse(atoll.URL+"/")); err != nil {
		t.Fatalf("open the Locks page: %v", err)
	}
	if err := chromedp.Do(cctx, chromedp.WaitVisible(chromedp.CSS("tr.queue ol.queue li"))); err != nil {
		t.Fatalf("wait for the queue under the lock: %v", err)
	}
	items, err := chromedp.Run(cctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('tr.queue ol.queue li')].map(li => li.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || !strings.HasPrefix(items[0], fmt.Sprintf("#%d (carol", pr2)) || !strings.HasPrefix(items[1], fmt.Sprintf("#%d (dave", pr3)) {
		t.Errorf("queue on the Locks page = %q; want #%d (carol…) then #%d (dave…)", items, pr2, pr3)
	}
	shot, err := chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "locks-queue.png", string(shot))

	if _, err := chromedp.Run(cctx, chromedp.NavigateResponse(fmt.Sprintf("%s/pulls/acme/infra/%d", atoll.URL, pr3))); err != nil {
		t.Fatalf("open the pull request page: %v", err)
	}
	body, err := chromedp.Run(cctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "queued (position 2)") || !strings.Contains(body, fmt.Sprintf("#%d", pr1)) {
		t.Errorf("the page of #%d does not say it is queued at position 2 behind #%d:\n%s", pr3, pr1, body)
	}
	// Queuing is what the autoplan was to do: it did not fail.
	if strings.Contains(body, "failed") {
		t.Errorf("the page of queued #%d shows a failure:\n%s", pr3, body)
	}
	shot, err = chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "pull-queued.png", string(shot))
}
