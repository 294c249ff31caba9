package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/testenv"
)

func TestStepTimeoutError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		after time.Duration
		want  string
	}{
		{time.Second, "step run timed out after 1s"},
		{1500 * time.Millisecond, "step run timed out after 1.5s"},
		{90 * time.Second, "step run timed out after 1m30s"},
		{5 * time.Minute, "step run timed out after 5m"},
		{time.Hour, "step run timed out after 1h"},
		{90 * time.Minute, "step run timed out after 1h30m"},
		{time.Hour + time.Second, "step run timed out after 1h0m1s"},
	}
	for _, tt := range tests {
		err := &StepError{Step: "run", ExitCode: -1, Err: &stepTimeoutError{kind: "run", after: tt.after}}
		if got := err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(err, ErrStepTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Errorf("%v: want it to match ErrStepTimeout and context.DeadlineExceeded only", err)
		}
	}
}

func TestNewRejectsNegativeDurations(t *testing.T) {
	t.Parallel()
	git := testenv.Git(t)
	for _, cfg := range []Config{{StepTimeout: -time.Second}, {KillGrace: -time.Second}} {
		cfg.DataDir, cfg.Git = t.TempDir(), git
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
	r, err := New(Config{DataDir: t.TempDir(), Git: git})
	if err != nil {
		t.Fatal(err)
	}
	if r.stepTimeout != DefaultStepTimeout || r.killGrace != DefaultKillGrace {
		t.Errorf("defaults: step timeout %v, kill grace %v; want %v and %v", r.stepTimeout, r.killGrace, DefaultStepTimeout, DefaultKillGrace)
	}
}
