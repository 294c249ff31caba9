package locking

import (
	"errors"
	"fmt"
)

// ValidateKey reports a key's first missing part, or nil when it has a repo, a
// dir and a workspace.
func ValidateKey(k Key) error {
	switch {
	case k.Repo == "":
		return errors.New("key has no repo")
	case k.Dir == "":
		return errors.New("key has no dir")
	case k.Workspace == "":
		return errors.New("key has no workspace")
	}
	return nil
}

// ValidateLocks checks the locks of one Acquire call: each has a whole key and
// a pull request number, and no key is asked for by two pull requests. The
// error names the first lock that fails.
func ValidateLocks(locks []Lock) error {
	pulls := make(map[string]int, len(locks))
	for _, l := range locks {
		if err := ValidateKey(l.Key); err != nil {
			return fmt.Errorf("lock %s: %w", l.Key, err)
		}
		if l.Pull <= 0 {
			return fmt.Errorf("lock %s: pull %d is not a pull request number", l.Key, l.Pull)
		}
		id := l.Key.String()
		if p, ok := pulls[id]; ok && p != l.Pull {
			return fmt.Errorf("lock %s: requested for both pull %d and pull %d", l.Key, p, l.Pull)
		}
		pulls[id] = l.Pull
	}
	return nil
}

// ValidatePlan checks a plan record before it is saved: it has a whole key and
// a pull request number. The error does not name the key; callers add it.
func ValidatePlan(p Plan) error {
	if err := ValidateKey(p.Key); err != nil {
		return err
	}
	if p.Pull <= 0 {
		return fmt.Errorf("pull %d is not a pull request number", p.Pull)
	}
	return nil
}
