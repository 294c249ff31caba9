package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type stringer struct{ s string }

func (s stringer) String() string { return "stringer:" + s.s }

type valuer struct{ s string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("valuer:" + v.s) }

type config struct {
	User  string
	Token string
}

func TestHandler(t *testing.T) {
	t.Parallel()
	const later = "rotated-installation-token"
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want []string // in the output besides the placeholder
	}{
		{"message", func(l *slog.Logger) { l.Info("token " + secretToken) }, []string{"token [redacted]"}},
		{"string attr", func(l *slog.Logger) { l.Info("m", "token", secretToken, "n", 42) }, []string{"token=[redacted]", "n=42"}},
		{"error attr", func(l *slog.Logger) {
			l.Error("m", "err", fmt.Errorf("git fetch https://x:%s@github.com: %w", secretToken, errors.New("denied")))
		}, []string{"denied"}},
		{"stringer attr", func(l *slog.Logger) { l.Info("m", "s", stringer{secretToken}) }, []string{"stringer:[redacted]"}},
		{"struct attr", func(l *slog.Logger) { l.Info("m", "cfg", config{User: "bot", Token: secretToken}) }, []string{"User:bot"}},
		{"pointer attr", func(l *slog.Logger) { l.Info("m", "cfg", &config{User: "bot", Token: secretToken}) }, []string{"User:bot"}},
		{"bytes attr", func(l *slog.Logger) { l.Info("m", "body", []byte("x "+secretToken)) }, []string{"x [redacted]"}},
		{"map attr", func(l *slog.Logger) { l.Info("m", "env", map[string]string{"T": secretToken}) }, nil},
		{"log valuer", func(l *slog.Logger) { l.Info("m", "v", valuer{secretToken}) }, []string{"valuer:[redacted]"}},
		{"token shape", func(l *slog.Logger) { l.Info("m", "t", ghToken) }, []string{"t=[redacted]"}},
		{"key", func(l *slog.Logger) { l.Info("m", secretToken, 1) }, []string{"[redacted]=1"}},
		{"group", func(l *slog.Logger) {
			l.Info("m", slog.Group("req", "auth", secretToken, slog.Group("inner", "v", valuer{secretToken})), "d", time.Second)
		}, []string{"req.auth=[redacted]", "req.inner.v=valuer:[redacted]", "d=1s"}},
		{"with attrs", func(l *slog.Logger) { l.With("token", secretToken, "repo", "acme/infra").Info("m") }, []string{"repo=acme/infra"}},
		{"with group", func(l *slog.Logger) {
			l.WithGroup("job").With("t", secretToken).Info("m", "e", errors.New(secretToken))
		}, []string{"job.t=[redacted]", "job.e=[redacted]"}},
		{"group name", func(l *slog.Logger) { l.WithGroup(secretToken).Info("m", "a", 1) }, []string{"[redacted].a=1"}},
		{"nil any", func(l *slog.Logger) { l.Info("m", "x", nil, "s", secretToken) }, []string{"x=<nil>"}},
		{"panicking stringer", func(l *slog.Logger) { l.Info("m", "p", (*panicky)(nil), "s", secretToken) }, []string{"PANIC"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, format := range []string{"text", "json"} {
				var buf bytes.Buffer
				var h slog.Handler = slog.NewTextHandler(&buf, nil)
				if format == "json" {
					h = slog.NewJSONHandler(&buf, nil)
				}
				r := New(secretToken)
				tt.log(slog.New(r.Handler(h)))
				out := buf.String()
				if strings.Contains(out, secretToken) || strings.Contains(out, ghToken) || !strings.Contains(out, placeholder) {
					t.Errorf("%s output leaks or redacts nothing:\n%s", format, out)
				}
				if format == "text" {
					for _, w := range tt.want {
						if !strings.Contains(out, w) {
							t.Errorf("text output lacks %q:\n%s", w, out)
						}
					}
				}
			}
		})
	}

	// A logger made before Add forgets nothing Add names.
	var buf bytes.Buffer
	r := New(secretToken)
	l := slog.New(r.Handler(slog.NewTextHandler(&buf, nil))).With("install", later+"-42").WithGroup("g").With("k", "v")
	l.Info("before")
	r.Add(later + "-42")
	l.Info("after", "again", later+"-42")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], later) || strings.Contains(lines[1], later) || !strings.Contains(lines[1], "g.k=v") {
		t.Errorf("log lines around Add:\n%s", buf.String())
	}
}

type panicky struct{ s string }

func (p *panicky) String() string { return p.s }

func TestHandlerEnabledAndSource(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := New(secretToken).Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn, AddSource: true}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
	slog.New(h).With("a", 1).Warn("w")
	if !strings.Contains(buf.String(), "slog_test.go") {
		t.Errorf("source lost:\n%s", buf.String())
	}
}
