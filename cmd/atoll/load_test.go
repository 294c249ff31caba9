//go:build load

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atollhq/atoll/vcs"
	"github.com/atollhq/atoll/vcs/vcstest"
)

// The load benchmark (`make load`, build tag load) runs the real atoll binary
// against the fake GitHub on loopback: it opens loadPRs pull requests at once
// (one per project of a monorepo, so each autoplan takes its own lock) and,
// while those plans run, sends loadWebhooks signed webhooks at loadRate per
// second. It is bounded in count and in time (loadDeadline) and fails unless
// every plan finishes with exactly one comment on each pull request.
const (
	loadPRs      = 50
	loadWebhooks = 1000
	loadRate     = 200 // webhooks per second
	loadDeadline = 10 * time.Minute
)

// BenchmarkLoad reports, for one run (use -benchtime=1x):
//
//   - accepted: webhooks answered 2xx, of loadWebhooks
//   - p50-ms, p99-ms: how long atoll took to answer a webhook
//   - healthz-p50-ms, healthz-p99-ms: GET /healthz sent at the same time, the baseline
//   - p99-ratio: p99-ms ÷ healthz-p99-ms
//   - server-peak-MiB: the atoll process's peak RSS (VmHWM)
//   - peak-goroutines: the most go_goroutines /metrics showed, sampled every 100 ms
//   - plans-s: from opening the pull requests until every plan comment exists
//
// The webhooks are a mix a busy repository sends (see loadMix). Per-PR comment
// counts are printed and must all be 1.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		runLoad(b)
	}
}

func runLoad(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), loadDeadline)
	defer cancel()
	gh := fakeGitHub(b)
	atoll := startAtoll(b, gh, b.TempDir(), "--log-level", "warn")

	// A monorepo of loadPRs projects; pull request i changes project i.
	files := map[string]string{}
	for i := range loadPRs {
		files[fmt.Sprintf("p%02d/main.tf", i)] = fmt.Sprintf("resource \"terraform_data\" \"x\" {\n  input = \"p%02d\"\n}\n", i)
	}
	repo, err := gh.CreateRepo(ctx, "acme", "mono", files)
	if err != nil {
		b.Fatal(err)
	}
	heads := make([]string, loadPRs)
	for i := range loadPRs {
		f := fmt.Sprintf("p%02d/main.tf", i)
		if heads[i], err = gh.Push(ctx, repo, fmt.Sprintf("change-%02d", i), map[string]string{f: files[f] + "resource \"terraform_data\" \"y\" {}\n"}, "change"); err != nil {
			b.Fatal(err)
		}
	}
	// Bodies to send again: a non-command comment on each pull request, and
	// (below) the pull requests' own opened deliveries. Both are captured
	// through a proxy that forwards them to atoll.
	rec := newRecordingProxy(b, atoll.URL+"/events")
	gh.SetWebhookURL(rec.URL())

	// Open every pull request at once.
	start := time.Now()
	nums := make([]int, loadPRs)
	var wg sync.WaitGroup
	for i := range loadPRs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := gh.OpenPull(ctx, repo, fmt.Sprintf("change-%02d", i), "main", fmt.Sprintf("Change %02d", i), "alice")
			if err != nil {
				b.Error(err)
			}
			nums[i] = n
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	for _, n := range nums[:10] {
		if _, err := gh.Comment(ctx, repo, n, "bob", "lgtm, one question about the tags below"); err != nil {
			b.Fatal(err)
		}
	}
	mix := loadMix(b, rec.bodies())
	gh.SetWebhookURL(atoll.URL + "/events")

	var peakG atomic.Int64
	sampleDone := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if g := goroutines(atoll.URL); g > peakG.Load() {
				peakG.Store(g)
			}
			select {
			case <-sampleDone:
				return
			case <-t.C:
			}
		}
	}()

	// The webhooks, at loadRate per second, each in its own goroutine so a
	// slow answer does not slow the rate; /healthz every tenth tick.
	var (
		mu       sync.Mutex // guards lat, hz, accepted, answers
		lat, hz  []time.Duration
		accepted int
		answers  = map[string]int{}
	)
	client := &http.Client{Timeout: 30 * time.Second}
	tick := time.NewTicker(time.Second / loadRate)
	for i := range loadWebhooks {
		<-tick.C
		m := mix[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			status, body, err := gh.SendRawWebhook(ctx, m.event, m.body, vcstest.SignWithSecret)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				answers["error: "+err.Error()]++
				return
			}
			lat = append(lat, d)
			if status/100 == 2 {
				accepted++
			}
			answers[fmt.Sprintf("%s: %d %.45s", m.kind, status, strings.TrimSpace(string(body)))]++
		}()
		if i%10 == 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				resp, err := client.Get(atoll.URL + "/healthz")
				d := time.Since(t0)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				hz = append(hz, d)
				mu.Unlock()
			}()
		}
	}
	tick.Stop()
	wg.Wait()

	// Every pull request: its plan succeeds, and it has one comment from atoll.
	for i, n := range nums {
		if _, err := gh.WaitStatus(ctx, repo, heads[i], "atoll/plan", vcs.StatusSuccess); err != nil {
			b.Fatalf("plan of #%d: %v\ncomments:\n%s", n, err, joinBodies(gh, repo, n))
		}
	}
	planned := time.Since(start)
	time.Sleep(2 * time.Second) // a second comment would show by now
	close(sampleDone)
	<-sampled
	peak, err := peakRSS(atoll.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	counts := make([]int, loadPRs)
	bad := 0
	for i, n := range nums {
		for _, c := range gh.Comments(repo, n) {
			if c.User == gh.BotUser() {
				counts[i]++
			}
		}
		if counts[i] != 1 {
			bad++
		}
	}

	p := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1e3
	}
	mu.Lock()
	defer mu.Unlock()
	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.Logf("webhooks sent: %d at %d/s; answers:", loadWebhooks, loadRate)
	for _, k := range keys {
		b.Logf("  %4d  %s", answers[k], k)
	}
	b.Logf("accepted (2xx): %d of %d", accepted, loadWebhooks)
	b.Logf("answer latency: p50 %.2f ms, p99 %.2f ms (GET /healthz at the same time: p50 %.2f ms, p99 %.2f ms)",
		p(lat, .5), p(lat, .99), p(hz, .5), p(hz, .99))
	b.Logf("server peak RSS: %.1f MiB; peak goroutines: %d", float64(peak)/(1<<20), peakG.Load())
	b.Logf("%d pull requests opened at once, all planned in %.1f s; atoll comments per PR: %v", loadPRs, planned.Seconds(), counts)
	if accepted != loadWebhooks {
		b.Errorf("%d of %d webhooks answered 2xx", accepted, loadWebhooks)
	}
	if bad > 0 {
		b.Errorf("%d pull requests do not have exactly one atoll comment: %v", bad, counts)
	}
	b.ReportMetric(float64(accepted), "accepted")
	b.ReportMetric(p(lat, .5), "p50-ms")
	b.ReportMetric(p(lat, .99), "p99-ms")
	b.ReportMetric(p(hz, .5), "healthz-p50-ms")
	b.ReportMetric(p(hz, .99), "healthz-p99-ms")
	b.ReportMetric(p(lat, .99)/p(hz, .99), "p99-ratio")
	b.ReportMetric(float64(peak)/(1<<20), "server-peak-MiB")
	b.ReportMetric(float64(peakG.Load()), "peak-goroutines")
	b.ReportMetric(planned.Seconds(), "plans-s")
}

// loadWebhook is one delivery of the load.
type loadWebhook struct {
	kind  string // what it is, for the printed answer counts
	event string
	body  []byte
}

// loadMix returns loadWebhooks deliveries made from the captured ones, the
// mix a busy monorepo sends while its pull requests are being planned:
//
//   - 60% issue_comment, review chatter that is not a command: verified,
//     parsed, answered "ignored: not a command";
//   - 20% redeliveries of the pull requests' opened webhooks (GitHub's
//     "redeliver", or a replay): answered "ignored: already handled";
//   - 10% pull_request "labeled" and 10% "edited" (the opened payloads with
//     another action): answered "ignored".
//
// None starts a job, so the only plans are the loadPRs autoplans and each
// pull request must end with exactly one atoll comment.
func loadMix(b *testing.B, captured []capturedHook) []loadWebhook {
	b.Helper()
	var comments, opened [][]byte
	for _, c := range captured {
		switch {
		case c.event == "issue_comment":
			comments = append(comments, c.body)
		case c.event == "pull_request" && c.action == "opened":
			opened = append(opened, c.body)
		}
	}
	if len(comments) == 0 || len(opened) < loadPRs {
		b.Fatalf("captured %d comments and %d opened webhooks; want some and %d", len(comments), len(opened), loadPRs)
	}
	withAction := func(body []byte, action string) []byte {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			b.Fatal(err)
		}
		m["action"] = action
		out, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	out := make([]loadWebhook, loadWebhooks)
	for i := range out {
		switch r := i % 10; {
		case r < 6:
			out[i] = loadWebhook{"comment (not a command)", "issue_comment", comments[i%len(comments)]}
		case r < 8:
			out[i] = loadWebhook{"redelivered opened", "pull_request", opened[i%len(opened)]}
		case r < 9:
			out[i] = loadWebhook{"labeled", "pull_request", withAction(opened[i%len(opened)], "labeled")}
		default:
			out[i] = loadWebhook{"edited", "pull_request", withAction(opened[i%len(opened)], "edited")}
		}
	}
	return out
}

// capturedHook is a webhook the recording proxy forwarded.
type capturedHook struct {
	event, action string
	body          []byte
}

// recordingProxy forwards webhooks to atoll and keeps a copy of each.
type recordingProxy struct {
	srv *httptest.Server
	mu  sync.Mutex // guards got
	got []capturedHook
}

func newRecordingProxy(b *testing.B, target string) *recordingProxy {
	u, err := url.Parse(target)
	if err != nil {
		b.Fatal(err)
	}
	p := &recordingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL = u
		r.Out.Host = u.Host
	}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(body, &m)
		p.mu.Lock()
		p.got = append(p.got, capturedHook{event: r.Header.Get("X-GitHub-Event"), action: m.Action, body: body})
		p.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	b.Cleanup(p.srv.Close)
	return p
}

func (p *recordingProxy) URL() string { return p.srv.URL }

func (p *recordingProxy) bodies() []capturedHook {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]capturedHook(nil), p.got...)
}

// goroutines returns go_goroutines from atoll's /metrics, or 0.
func goroutines(base string) int64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(rest, 64)
			return int64(n)
		}
	}
	return 0
}
