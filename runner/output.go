package runner

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// MaxStepOutput is how much of one step's output is kept for Result and
// StepError: the last MaxStepOutput bytes. The live log (Job.Log) gets it all.
const MaxStepOutput = 4 << 20

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max     int
	buf     []byte
	dropped int64 // bytes discarded from the front
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		cut := len(t.buf) - t.max
		t.dropped += int64(cut)
		t.buf = append(t.buf[:0], t.buf[cut:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	b := t.buf
	dropped := t.dropped
	if len(b) > t.max {
		dropped += int64(len(b) - t.max)
		b = b[len(b)-t.max:]
	}
	if dropped == 0 {
		return string(b)
	}
	// Start at a line boundary so the first line is not cut in half.
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		dropped += int64(i + 1)
		s = s[i+1:]
	}
	return fmt.Sprintf("[%d bytes of earlier output not kept]\n%s", dropped, s)
}

// stepOutput collects one step's stdout and stderr: it copies everything to the
// live log and keeps the tail. Safe for concurrent writes from the two streams.
type stepOutput struct {
	mu   sync.Mutex // guards tail and writes to log
	tail tailBuffer
	log  io.Writer
}

func newStepOutput(log io.Writer) *stepOutput {
	return &stepOutput{tail: tailBuffer{max: MaxStepOutput}, log: log}
}

func (o *stepOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tail.Write(p)
	if o.log != nil {
		// A failing live log must not fail the step.
		_, _ = o.log.Write(p)
	}
	return len(p), nil
}

func (o *stepOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tail.String()
}

// switchWriter forwards writes to a target that can be changed between
// commands; tfexec is given one for stdout and one for stderr.
type switchWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w == nil {
		w = io.Discard
	}
	s.w = w
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	if w == nil {
		return len(p), nil
	}
	return w.Write(p)
}

// stripRefreshing drops the "x: Refreshing state..." lines terraform prints for
// every resource, for run steps with output strip_refreshing.
func stripRefreshing(s string) string {
	lines := strings.SplitAfter(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.Contains(l, ": Refreshing state...") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
