package server

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
)

// Job log bounds. A job keeps the first jobLogHead bytes of its output and the
// last jobLogTail bytes, whole lines each; what falls between is counted and
// shown as a marker line. The tail lives in a buffer of twice its bound that is
// compacted once it fills, so a write costs its own length (amortised), never a
// copy of the whole log. A job's log therefore takes at most about
// jobLogHead + 2*jobLogTail bytes while it runs.
const (
	jobLogHead = 1 << 20
	jobLogTail = 4 << 20
	// jobLogsTotal bounds the logs of one replica's finished jobs together:
	// past it, the oldest finished jobs' logs are dropped first (the archive,
	// with Redis, still has them). Running jobs are bounded by the per-job
	// bound times --max-parallel-jobs.
	jobLogsTotal = 64 << 20
)

// logGap is the part of a log that was not kept.
type logGap struct {
	Lines int `json:"lines"`
	Bytes int `json:"bytes"`
}

// marker is the line shown where the gap was.
func (g logGap) marker() string {
	return fmt.Sprintf("… %d lines (%d bytes) dropped …\n", g.Lines, g.Bytes)
}

// logPos is how far a reader of the log got: the byte offset in everything
// ever written, and the number of lines before it.
type logPos struct{ off, lines int }

// jobLog is a log that keeps its head and tail. Offsets: the head is bytes
// [0, len(head)) of all output, the dropped bytes follow, then the tail. Both
// cuts fall after a newline, so no line (and no secret in it) is cut in half:
// a line too long to keep is dropped whole. The zero value uses the default
// bounds. It is not safe for concurrent use (Job's mutex guards it).
type jobLog struct {
	headMax, tailMax int

	head      []byte
	headDone  bool // the head is full; output goes to the tail
	headLines int  // newlines in head

	buf       []byte // the tail is buf[start:]
	start     int
	dropLines int  // newlines in the dropped bytes
	dropBytes int  // bytes between the head and the tail
	skipping  bool // dropping the rest of a line too long to keep
}

func (l *jobLog) bounds() (head, tail int) {
	if l.headMax == 0 && l.tailMax == 0 {
		return jobLogHead, jobLogTail
	}
	return l.headMax, l.tailMax
}

func (l *jobLog) write(p []byte) {
	headMax, _ := l.bounds()
	if !l.headDone {
		if len(l.head)+len(p) <= headMax {
			l.head = append(l.head, p...)
			return
		}
		room := headMax - len(l.head)
		if cut := bytes.LastIndexByte(p[:room], '\n'); cut >= 0 {
			l.head = append(l.head, p[:cut+1]...)
			p = p[cut+1:]
		} else {
			// The head's last line does not end within the bound: it
			// starts the tail instead.
			i := bytes.LastIndexByte(l.head, '\n') + 1
			rest := append([]byte(nil), l.head[i:]...)
			l.head = l.head[:i:i]
			l.appendTail(rest)
		}
		l.headDone = true
		l.headLines = bytes.Count(l.head, []byte{'\n'})
	}
	l.appendTail(p)
}

func (l *jobLog) appendTail(p []byte) {
	_, tailMax := l.bounds()
	if l.skipping {
		nl := bytes.IndexByte(p, '\n')
		if nl < 0 {
			l.dropBytes += len(p)
			return
		}
		l.dropBytes += nl + 1
		l.dropLines++
		l.skipping = false
		p = p[nl+1:]
	}
	if len(p) == 0 {
		return
	}
	if len(l.buf)+len(p) > cap(l.buf) && l.start > 0 {
		// Compact: move the tail to the front. It happens after at least
		// tailMax bytes were dropped since the last time (the buffer holds
		// twice the tail), so it costs O(1) per byte written.
		live := l.buf[l.start:]
		if cap(l.buf) < 2*tailMax {
			nb := make([]byte, len(live), 2*tailMax)
			copy(nb, live)
			l.buf = nb
		} else {
			l.buf = l.buf[:copy(l.buf, live)]
		}
		l.start = 0
	}
	l.buf = append(l.buf, p...)
	over := len(l.buf) - l.start - tailMax
	if over <= 0 {
		return
	}
	// Drop from the tail's front up to the next line start past over.
	cut := l.start + over
	s := len(l.buf)
	if nl := bytes.IndexByte(l.buf[cut-1:], '\n'); nl >= 0 {
		s = cut + nl
	} else {
		l.skipping = true // the rest of this line is dropped too
	}
	l.dropLines += bytes.Count(l.buf[l.start:s], []byte{'\n'})
	l.dropBytes += s - l.start
	l.start = s
	if l.start == len(l.buf) {
		l.buf, l.start = l.buf[:0], 0
	}
}

// shrink lets go of the tail buffer's spare room, once the job has ended, so a
// finished job holds what size counts.
func (l *jobLog) shrink() {
	if live := l.buf[l.start:]; cap(l.buf) > len(live) {
		l.buf, l.start = append([]byte(nil), live...), 0
	}
}

// gap returns what was dropped so far.
func (l *jobLog) gap() logGap { return logGap{Lines: l.dropLines, Bytes: l.dropBytes} }

// size returns the bytes kept.
func (l *jobLog) size() int { return len(l.head) + len(l.buf) - l.start }

// text returns the kept log with the marker where output was dropped: a copy.
func (l *jobLog) text() (head, tail []byte) {
	return append([]byte(nil), l.head...), append([]byte(nil), l.buf[l.start:]...)
}

// drop forgets the whole kept log, counting it as dropped.
func (l *jobLog) drop() {
	l.dropLines += bytes.Count(l.head, []byte{'\n'}) + bytes.Count(l.buf[l.start:], []byte{'\n'})
	l.dropBytes += l.size()
	l.head, l.headLines, l.headDone = nil, 0, true
	l.buf, l.start = nil, 0
}

// read returns copies of the kept output from p on (the head part and the
// tail part), what was dropped between p and the tail, and the position after
// it. With whole set only whole lines are returned.
func (l *jobLog) read(p logPos, whole bool) (head, tail []byte, gap logGap, next logPos) {
	next = p
	if p.off < len(l.head) {
		head = l.head[p.off:]
		if whole && !l.headDone {
			head = head[:bytes.LastIndexByte(head, '\n')+1]
		}
		head = append([]byte(nil), head...)
		next.off += len(head)
		next.lines += bytes.Count(head, []byte{'\n'})
	}
	if !l.headDone {
		return head, nil, gap, next
	}
	tailAbs := len(l.head) + l.dropBytes
	if next.off < tailAbs {
		gap = logGap{Lines: l.headLines + l.dropLines - next.lines, Bytes: tailAbs - next.off}
		next.off, next.lines = tailAbs, l.headLines+l.dropLines
	}
	tail = l.buf[l.start+next.off-tailAbs:]
	if whole {
		tail = tail[:bytes.LastIndexByte(tail, '\n')+1]
	}
	tail = append([]byte(nil), tail...)
	next.off += len(tail)
	next.lines += bytes.Count(tail, []byte{'\n'})
	return head, tail, gap, next
}

var markerRE = regexp.MustCompile(`(?m)^… (\d+) lines \((\d+) bytes\) dropped …$`)

// archivedGap reads the gap from the marker line of an archived log (the
// archive keeps the text only).
func archivedGap(log []byte) logGap {
	m := markerRE.FindSubmatch(log)
	if m == nil {
		return logGap{}
	}
	lines, _ := strconv.Atoi(string(m[1]))
	n, _ := strconv.Atoi(string(m[2]))
	return logGap{Lines: lines, Bytes: n}
}

// maxPending bounds the output a job holds back before redacting it: an
// unfinished line, or a private key block whose END line has not come.
const maxPending = 64 << 10

var (
	pemBegin = []byte("-----BEGIN ")
	pemEnd   = []byte("-----END ")
)

// flushLog redacts the pending output that is ready and keeps it: whole
// lines, but not from a PEM block's BEGIN line while its END line has not
// come (the redaction recognises an unknown private key by its BEGIN line, so
// the block must reach it whole, and no cut of the log may fall inside it).
// With final (the job ended) everything pending goes. Past maxPending, what
// is held goes anyway: an unterminated key block is then redacted to its end,
// and its remaining lines are dropped as they come, up to its END line. The
// caller holds j.mu.
func (j *Job) flushLog(final bool) {
	if j.inKey {
		i := bytes.Index(j.pending, pemEnd)
		if i < 0 {
			j.pending = j.pending[:0]
			return
		}
		nl := bytes.IndexByte(j.pending[i:], '\n')
		if nl < 0 && !final {
			j.pending = append(j.pending[:0], j.pending[i:]...) // the END line, unfinished
			return
		}
		j.inKey = false
		if nl < 0 {
			j.pending = j.pending[:0]
		} else {
			j.pending = append(j.pending[:0], j.pending[i+nl+1:]...)
		}
	}
	ready := len(j.pending)
	if !final {
		ready = bytes.LastIndexByte(j.pending, '\n') + 1
		if k := openBlock(j.pending[:ready]); k >= 0 {
			ready = k
		}
		if ready == 0 && len(j.pending) > maxPending {
			ready = len(j.pending)
			j.inKey = openBlock(j.pending) >= 0
		}
	}
	if ready == 0 {
		return
	}
	out := j.pending[:ready]
	if j.redact != nil {
		out = j.redact(out)
	}
	j.log.write(out)
	j.pending = append(j.pending[:0], j.pending[ready:]...)
}

// openBlock returns where the line of b's last PEM BEGIN line starts if no END
// line follows it, and -1 otherwise.
func openBlock(b []byte) int {
	i := bytes.LastIndex(b, pemBegin)
	if i < 0 || bytes.Contains(b[i:], pemEnd) {
		return -1
	}
	return bytes.LastIndexByte(b[:i], '\n') + 1
}
