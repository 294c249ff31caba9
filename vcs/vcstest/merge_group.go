package vcstest

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"

	"github.com/atollhq/atoll/vcs"
)

// EnqueueMergeGroup puts pull requests nums in repo's merge queue, as
// GitHub's merge queue does: it builds the merge group, a branch
// gh-readonly-queue/BASE/pr-N-BASESHA holding a merge commit of each pull
// request in turn on top of the base branch, and delivers a merge_group
// "checks_requested" webhook. It returns the group's branch and commit.
// The base branch does not move; merging the group is ClosePull's job.
func (s *Server) EnqueueMergeGroup(ctx context.Context, repo vcs.Repo, nums ...int) (branch, sha string, err error) {
	if len(nums) == 0 {
		return "", "", fmt.Errorf("enqueue merge group: no pull requests")
	}
	s.gitMu.Lock()
	gitDir := s.gitDir(repo.Owner, repo.Name)
	var base string
	var heads []string
	s.mu.Lock()
	for _, n := range nums {
		_, is, lerr := s.lookupPull(repo, n)
		if lerr == nil && is.state != "open" {
			lerr = errNotOpen
		}
		if lerr != nil {
			s.mu.Unlock()
			s.gitMu.Unlock()
			return "", "", fmt.Errorf("enqueue %s#%d: %w", repo.FullName(), n, lerr)
		}
		if base == "" {
			base = is.pull.base
		}
		heads = append(heads, is.pull.headSHA)
	}
	s.mu.Unlock()
	baseSHA, err := s.resolveBranch(ctx, gitDir, base)
	if err == nil {
		sha = baseSHA
		for i, h := range heads {
			sha, err = s.mergeCommit(ctx, gitDir, sha, h, fmt.Sprintf("Merge pull request #%d", nums[i]))
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		branch = fmt.Sprintf("gh-readonly-queue/%s/pr-%d-%s", base, nums[len(nums)-1], baseSHA)
		err = s.updateRef(ctx, gitDir, "refs/heads/"+branch, sha, "")
	}
	s.gitMu.Unlock()
	if err != nil {
		return "", "", fmt.Errorf("enqueue merge group on %s: %w", repo.FullName(), err)
	}
	s.mu.Lock()
	rs, err := s.lookupRepo(repo.Owner, repo.Name)
	if err != nil {
		s.mu.Unlock()
		return "", "", err
	}
	body := mustJSON(&github.MergeGroupEvent{
		Action: github.String("checks_requested"),
		MergeGroup: &github.MergeGroup{HeadSHA: github.String(sha), HeadRef: github.String("refs/heads/" + branch),
			BaseSHA: github.String(baseSHA), BaseRef: github.String("refs/heads/" + base)},
		Repo:   s.repoJSON(rs),
		Sender: s.userJSON("github-merge-queue[bot]"),
	})
	s.mu.Unlock()
	if err := s.deliverEvent(ctx, "merge_group", body); err != nil {
		return branch, sha, fmt.Errorf("enqueue merge group on %s: %w", repo.FullName(), err)
	}
	return branch, sha, nil
}
