package locking_test

import (
	"testing"

	"github.com/atollhq/atoll/locking"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	k := locking.Key{Repo: "acme", Dir: "net", Workspace: "default"}
	other := locking.Key{Repo: "acme", Dir: "app", Workspace: "default"}
	lock := func(k locking.Key, pull int) locking.Lock { return locking.Lock{Key: k, Pull: pull} }
	tests := []struct {
		name    string
		check   func() error
		wantErr string // "" for no error
	}{
		{"key whole", func() error { return locking.ValidateKey(k) }, ""},
		{"key no repo", func() error { return locking.ValidateKey(locking.Key{Dir: "net", Workspace: "default"}) }, "key has no repo"},
		{"key no dir", func() error { return locking.ValidateKey(locking.Key{Repo: "r", Workspace: "default"}) }, "key has no dir"},
		{"key no workspace", func() error { return locking.ValidateKey(locking.Key{Repo: "r", Dir: "net"}) }, "key has no workspace"},
		{"key repo missing first", func() error { return locking.ValidateKey(locking.Key{}) }, "key has no repo"},

		{"locks none", func() error { return locking.ValidateLocks(nil) }, ""},
		{"locks two keys", func() error { return locking.ValidateLocks([]locking.Lock{lock(k, 1), lock(other, 2)}) }, ""},
		{"locks same key same pull", func() error { return locking.ValidateLocks([]locking.Lock{lock(k, 1), lock(k, 1)}) }, ""},
		{"locks bad key", func() error {
			return locking.ValidateLocks([]locking.Lock{lock(k, 1), lock(locking.Key{Repo: "r", Workspace: "default"}, 1)})
		}, "lock r||default: key has no dir"},
		{"locks zero pull", func() error { return locking.ValidateLocks([]locking.Lock{lock(k, 0)}) }, "lock acme|net|default: pull 0 is not a pull request number"},
		{"locks two pulls", func() error { return locking.ValidateLocks([]locking.Lock{lock(k, 1), lock(other, 3), lock(k, 2)}) }, "lock acme|net|default: requested for both pull 1 and pull 2"},

		{"plan ok", func() error { return locking.ValidatePlan(locking.Plan{Key: k, Pull: 7}) }, ""},
		{"plan no workspace", func() error {
			return locking.ValidatePlan(locking.Plan{Key: locking.Key{Repo: "r", Dir: "net"}, Pull: 7})
		}, "key has no workspace"},
		{"plan negative pull", func() error { return locking.ValidatePlan(locking.Plan{Key: k, Pull: -1}) }, "pull -1 is not a pull request number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.check()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}
