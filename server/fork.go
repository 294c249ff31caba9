package server

import (
	"strings"

	"github.com/atollhq/atoll/vcs"
)

// headGone reports whether the PR's head repository no longer exists (a
// deleted fork): GitHub then sends no head repo, so there is nothing to fetch.
func headGone(pull vcs.PullRequest) bool {
	return pull.HeadRepo.Owner == "" || pull.HeadRepo.Name == "" || pull.HeadRepo.CloneURL == ""
}

// isFork reports whether the PR's commits come from another repository than
// the one it merges into.
func isFork(pull vcs.PullRequest) bool {
	return headGone(pull) || !strings.EqualFold(pull.HeadRepo.FullName(), pull.BaseRepo.FullName())
}

// forkRefusal returns why a command may not run on this PR because of where its
// head lives, or "" when it may. Forks run only with AllowForkPRs (as Atlantis's
// --allow-fork-prs): planning runs the PR's Terraform code, providers and
// external programs included, with the server's cloud credentials, and anyone
// who can read the repository can open a pull request from a fork.
func (r *prRun) forkRefusal() string {
	if headGone(r.pull) {
		return "The repository this pull request's branch came from has been deleted, so Atoll cannot fetch its code."
	}
	if isFork(r.pull) && !r.s.cfg.AllowForkPRs {
		return "This pull request comes from a fork (`" + r.pull.HeadRepo.FullName() + "`), and this Atoll server does not run code from forks: Terraform would run it with the server's credentials."
	}
	return ""
}

// forkStatus is the commit status description of a refused fork PR.
func forkStatus(pull vcs.PullRequest) string {
	if headGone(pull) {
		return "the pull request's head repository was deleted"
	}
	return "pull requests from forks are not run (--allow-fork-prs)"
}

// forkFix says what to do about a refused fork PR.
func forkFix(pull vcs.PullRequest, base vcs.Repo) string {
	if headGone(pull) {
		return "Push the branch to `" + base.FullName() + "` and open a new pull request from it."
	}
	return "Push the branch to `" + base.FullName() + "` itself and open the pull request from there, or ask an admin to start Atoll with `--allow-fork-prs`."
}
