package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/redact"
	"github.com/atollhq/atoll/runner"
)

// numbered returns n lines "line 0000\n"..., each 10 bytes.
func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("line %04d\n", i)
	}
	return out
}

// TestJobLogHeadTail: the log keeps whole lines of its start and its end, a
// marker between them counts what was dropped, and nothing is lost from the
// count.
func TestJobLogHeadTail(t *testing.T) {
	t.Parallel()
	lines := numbered(100)
	l := jobLog{headMax: 35, tailMax: 45}
	for _, s := range lines {
		l.write([]byte(s))
	}
	head, tail := l.text()
	if got, want := string(head), strings.Join(lines[:3], ""); got != want {
		t.Errorf("head = %q, want %q", got, want)
	}
	if got, want := string(tail), strings.Join(lines[96:], ""); got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
	if got, want := l.gap(), (logGap{Lines: 93, Bytes: 930}); got != want {
		t.Errorf("gap = %+v, want %+v", got, want)
	}
	j := &Job{redact: func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("0099"), []byte("****")) }}
	j.log = jobLog{headMax: 35, tailMax: 45}
	for _, s := range lines {
		_, _ = j.Write([]byte(s[:4])) // redaction sees whole lines anyway
		_, _ = j.Write([]byte(s[4:]))
	}
	text, gap := j.Log()
	want := strings.Join(lines[:3], "") + "… 93 lines (930 bytes) dropped …\n" + strings.Join(lines[96:99], "") + "line ****\n"
	if string(text) != want || gap.Lines != 93 {
		t.Errorf("Log() = %q, %+v; want %q", text, gap, want)
	}
	if got := archivedGap(text); got != gap {
		t.Errorf("archivedGap = %+v, want %+v", got, gap)
	}
}

// TestJobLogWholeLines writes lines of random lengths (some longer than the
// tail) in random pieces: the head is a prefix and the tail a suffix of the
// output, both made of whole lines, and kept plus dropped is everything.
func TestJobLogWholeLines(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var all []byte
		var lines []string
		for i := range 1 + rng.IntN(60) {
			s := fmt.Sprintf("%d:%d:%s\n", round, i, strings.Repeat("x", rng.IntN(80)))
			lines = append(lines, s)
			all = append(all, s...)
		}
		l := jobLog{headMax: 1 + rng.IntN(120), tailMax: 1 + rng.IntN(160)}
		for rest := all; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(50))
			l.write(rest[:n])
			rest = rest[n:]
		}
		head, tail := l.text()
		if !bytes.HasPrefix(all, head) || !bytes.HasSuffix(all, tail) {
			t.Fatalf("round %d: head %q / tail %q not a prefix / suffix", round, head, tail)
		}
		for _, part := range [][]byte{head, tail} {
			if len(part) > 0 && part[len(part)-1] != '\n' {
				t.Fatalf("round %d: %q does not end a line", round, part)
			}
		}
		if len(tail) > 0 && len(tail) < len(all) && all[len(all)-len(tail)-1] != '\n' {
			t.Fatalf("round %d: tail %q starts mid-line", round, tail)
		}
		gap := l.gap()
		if len(head)+gap.Bytes+len(tail) != len(all) {
			t.Fatalf("round %d: %d kept + %d dropped != %d written", round, len(head)+len(tail), gap.Bytes, len(all))
		}
		if got := bytes.Count(head, []byte{'\n'}) + gap.Lines + bytes.Count(tail, []byte{'\n'}); got != len(lines) {
			t.Fatalf("round %d: %d lines counted, %d written", round, got, len(lines))
		}
		if len(tail) > l.tailMax || len(head) > l.headMax {
			t.Fatalf("round %d: head %d > %d or tail %d > %d", round, len(head), l.headMax, len(tail), l.tailMax)
		}
	}
}

// TestJobLogWriteAllocs: once the log is full, a write allocates nothing and
// copies no more than amortised O(1) per byte (no copy of the whole log).
func TestJobLogWriteAllocs(t *testing.T) {
	j := &Job{}
	line := []byte(strings.Repeat("y", 99) + "\n")
	for range (jobLogHead + 3*jobLogTail) / len(line) {
		_, _ = j.Write(line)
	}
	if n := testing.AllocsPerRun(100000, func() { _, _ = j.Write(line) }); n != 0 {
		t.Errorf("a write to a full log allocates %v times; want 0", n)
	}
	if got, max := cap(j.log.buf), 2*jobLogTail+len(line); got > max {
		t.Errorf("tail buffer capacity %d > %d", got, max)
	}
	j.setState(JobSucceeded, time.Now())
	if got, want := cap(j.log.buf), len(j.log.buf); got > want+8<<10 || j.log.start != 0 { // an allocation rounds up to its page
		t.Errorf("finished job's tail buffer: capacity %d, %d kept (start %d)", got, want, j.log.start)
	}
}

// BenchmarkJobWriteFull measures a 100-byte write to a full job log (it was
// an 8 MiB copy per write before the head+tail log).
func BenchmarkJobWriteFull(b *testing.B) {
	j := &Job{}
	line := []byte(strings.Repeat("y", 99) + "\n")
	for range (jobLogHead + 3*jobLogTail) / len(line) {
		_, _ = j.Write(line)
	}
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		_, _ = j.Write(line)
	}
}

// TestJobReadLogStream: a live reader gets every line once, and a marker for
// lines dropped before it read them.
func TestJobReadLogStream(t *testing.T) {
	t.Parallel()
	lines := numbered(100)
	j := &Job{}
	j.log = jobLog{headMax: 35, tailMax: 45}
	var got []byte
	var pos logPos
	write := func(from, to int) {
		for _, s := range lines[from:to] {
			_, _ = j.Write([]byte(s))
		}
	}
	read := func(whole bool) {
		chunk, next := j.readLog(pos, whole)
		got, pos = append(got, chunk...), next
	}
	write(0, 2)
	_, _ = j.Write([]byte("line 00")) // half a line: not sent yet
	read(true)
	_, _ = j.Write([]byte("02\n"))
	write(3, 6) // lines 3 and 4 go to the tail
	read(true)
	write(6, 50) // the tail keeps 46..49; 5 was sent and 6..45 were not
	read(true)
	write(50, 100)
	read(false)
	want := strings.Join(lines[:6], "") + "… 40 lines (400 bytes) dropped …\n" + strings.Join(lines[46:50], "") +
		"… 46 lines (460 bytes) dropped …\n" + strings.Join(lines[96:], "")
	if string(got) != want {
		t.Errorf("stream =\n%s\nwant\n%s", got, want)
	}
}

// TestJobRegistryLogTotal: past the total bound, the oldest finished jobs'
// logs go first; running jobs keep theirs.
func TestJobRegistryLogTotal(t *testing.T) {
	t.Parallel()
	r := newJobRegistry(10, time.Now, nil)
	r.logTotal = 250
	var js []*Job
	for i := range 4 {
		j := r.start(Work{ID: fmt.Sprint(i)}, "plan")
		_, _ = j.Write(bytes.Repeat([]byte("0123456789\n"), 10)) // 110 bytes
		js = append(js, j)
	}
	js[1].setState(JobSucceeded, time.Now()) // total 440: nothing to drop but 1 yet
	js[2].setState(JobFailed, time.Now())
	js[3].setState(JobSucceeded, time.Now())
	for i, want := range []int{110, 0, 0, 110} { // 0 runs; 1 and 2 are oldest finished
		if got := js[i].logSize(); got != want {
			t.Errorf("job %d keeps %d bytes, want %d", i, got, want)
		}
	}
	text, gap := js[1].Log()
	if want := "… 10 lines (110 bytes) dropped …\n"; string(text) != want || gap.Lines != 10 {
		t.Errorf("dropped job's log = %q, want %q", text, want)
	}
}

// TestJobPageDropped: the job page and the plain-text log say where output
// was dropped.
func TestJobPageDropped(t *testing.T) {
	t.Parallel()
	s, _ := newPipelineServer(t, Config{}, openPull(), func(context.Context, runner.Job) (runner.Result, error) {
		return runner.Result{}, nil
	})
	j := s.jobs.start(Work{ID: "cafe", Kind: WorkAutoplan, Repo: testRepo, Pull: openPull(), Queued: time.Now()}, "plan")
	line := []byte(strings.Repeat("z", 1023) + "\n")
	for range (jobLogHead + jobLogTail + 10<<10) / len(line) {
		_, _ = j.Write(line)
	}
	j.setState(JobSucceeded, time.Now())
	get := func(path string) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr, req.Host = "127.0.0.1:40000", "localhost:4141"
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	const marker = "… 10 lines (10240 bytes) dropped …"
	page := get("/jobs/cafe")
	if !strings.Contains(page, `id="dropped">10 lines (10240 bytes) of output were dropped`) || !strings.Contains(page, marker) {
		t.Errorf("job page does not say what was dropped:\n%.600s", page[:strings.Index(page, "<pre")+20])
	}
	if api := get("/api/jobs"); !strings.Contains(api, `"log_dropped":{"lines":10,"bytes":10240}`) {
		t.Errorf("API does not say what was dropped: %.400s", api)
	}
	if text := get("/jobs/cafe/log"); strings.Count(text, marker) != 1 || len(text) != jobLogHead+jobLogTail+len(marker)+1 {
		t.Errorf("plain-text log: %d bytes, %d markers", len(text), strings.Count(text, marker))
	}
}

// TestJobLogKeyBlock: a private key block reaches the redaction whole, however
// it is written, so a live reader never sees a line of it; one too long to
// hold is redacted to its end and the rest of it dropped.
func TestJobLogKeyBlock(t *testing.T) {
	t.Parallel()
	const body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
	for _, tt := range []struct {
		name  string
		lines int
	}{{"short key", 20}, {"key longer than maxPending", 2 * maxPending / len(body)}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := &Job{redact: redact.New().Bytes}
			var got []byte
			var pos logPos
			read := func(whole bool) {
				chunk, next := j.readLog(pos, whole)
				got, pos = append(got, chunk...), next
			}
			_, _ = j.Write([]byte("before\n-----BEGIN RSA PRIVATE KEY-----\n" + body))
			read(true)
			for range tt.lines {
				_, _ = j.Write([]byte(body[:10]))
				read(true)
				_, _ = j.Write([]byte(body[10:]))
				read(true)
			}
			_, _ = j.Write([]byte("-----END RSA PRIVATE KEY-----\nafter\n"))
			read(true)
			j.setState(JobSucceeded, time.Now())
			read(false)
			text, _ := j.Log()
			for name, b := range map[string][]byte{"stream": got, "log": text} {
				if bytes.Contains(b, []byte("MIIE")) || !bytes.HasPrefix(b, []byte("before\n")) || !bytes.HasSuffix(b, []byte("after\n")) {
					t.Errorf("%s = %.300q; want before, no key, after", name, b)
				}
			}
		})
	}
}
