package config

import "testing"

// lock_queue is on unless repos.yaml turns it off; a later matching entry
// overrides an earlier one.
func TestLockQueue(t *testing.T) {
	tests := []struct {
		name, yaml, repo string
		want             bool
	}{
		{"default", "", "github.com/acme/infra", true},
		{"off", "repos:\n- id: /.*/\n  lock_queue: false\n", "github.com/acme/infra", false},
		{"off then on for one repo", "repos:\n- id: /.*/\n  lock_queue: false\n- id: github.com/acme/web\n  lock_queue: true\n", "github.com/acme/web", true},
		{"off, other repo unaffected", "repos:\n- id: github.com/acme/web\n  lock_queue: false\n", "github.com/acme/infra", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := mustServer(t, tt.yaml)
			got, err := sc.Resolve(tt.repo, "main", nil)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.LockQueue != tt.want {
				t.Errorf("LockQueue = %v; want %v", got.LockQueue, tt.want)
			}
		})
	}
	if _, err := ParseServerConfig("repos.yaml", []byte("repos:\n- id: /.*/\n  lock_queue: sometimes\n")); err == nil {
		t.Error("lock_queue: sometimes parsed; want an error")
	}
}
