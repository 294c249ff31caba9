package server

import (
	"errors"
	"testing"
)

func TestRegexpHint(t *testing.T) {
	t.Parallel()
	base := errors.New(`no project is named "dev-.*"; projects: dev-a, dev-b`)
	tests := []struct {
		name    string
		project string
		enabled bool
		want    string
	}{
		{"a regular expression without the flag", "dev-.*", false, `no project is named "dev-.*"; projects: dev-a, dev-b. ` +
			"`-p` names one project here: this server does not read it as a regular expression (an admin can start it with --enable-regexp-cmd)"},
		{"a plain name", "dev-c", false, base.Error()},
		{"a name with a dot", "dev.c", false, base.Error()},
		{"with the flag", "dev-.*", true, base.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &prRun{s: &Server{cfg: Config{EnableRegexpCmd: tt.enabled}}, w: Work{Command: Command{Project: tt.project}}}
			if got := r.regexpHint(base).Error(); got != tt.want {
				t.Errorf("regexpHint = %q\nwant %q", got, tt.want)
			}
			if r.regexpHint(nil) != nil {
				t.Error("regexpHint(nil) != nil")
			}
		})
	}
}
