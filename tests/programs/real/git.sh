# git in the working directory: init a repository, make commits with fixed
# authors and dates, branch and merge, then log, diff, blame, grep, gc,
# repack and fsck.  Everything it prints is deterministic (fixed dates and
# identities, single-threaded packing, no detached auto-gc).
set -eu
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY \
	GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_CEILING_DIRECTORIES GIT_PAGER \
	GIT_EDITOR GIT_SEQUENCE_EDITOR GIT_TRACE GIT_TRACE2 GIT_TRACE2_EVENT \
	GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT 2>/dev/null || true
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Pace Tester" GIT_AUTHOR_EMAIL="tester@example.invalid"
export GIT_COMMITTER_NAME="Pace Committer" GIT_COMMITTER_EMAIL="committer@example.invalid"
export GIT_PAGER=cat PAGER=cat GIT_TERMINAL_PROMPT=0 GIT_EDITOR=true

at() { # at N: commit dates N minutes after a fixed epoch
	export GIT_AUTHOR_DATE="@$((1700000000 + $1 * 60)) +0000"
	export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
}

git init -q -b main repo
cd repo
git config gc.autoDetach false
git config maintenance.auto false
git config pack.threads 1
git config core.autocrlf false
git config commit.gpgsign false

n=0
for i in $(seq 1 40); do
	n=$((n + 1))
	at "$n"
	mkdir -p "dir$((i % 5))"
	# A growing file, a rewritten file, and a new file per commit.
	seq "$i" $((i * 50)) | awk -v i="$i" '{ print "line " $1 " of commit " i }' >>log.txt
	awk -v i="$i" 'BEGIN { for (k = 0; k < 200; k++) print (k * i * 7919) % 10007 }' >"dir$((i % 5))/data.txt"
	printf 'file %d\n%s\n' "$i" "$(seq -s, 1 $((i * 3)))" >"dir$((i % 5))/f$i.txt"
	git add -A
	git commit -q -m "commit $i" -m "Changes the data of dir$((i % 5))."
done
git checkout -q -b topic HEAD~10
for i in $(seq 1 8); do
	n=$((n + 1))
	at "$n"
	echo "topic change $i" >>topic.txt
	sed -i "s/^line $i of/LINE $i of/" log.txt
	git add -A
	git commit -q -m "topic $i"
done
git checkout -q main
n=$((n + 1))
at "$n"
git merge -q --no-ff -m "merge topic" topic 2>&1 || {
	git checkout --theirs log.txt
	git add -A
	git commit -q -m "merge topic (resolved)"
}
git tag -a v1 -m "version 1"

echo "== log"
git log --graph --format='%h %an <%ae> %ad %s' --date=iso-strict
echo "== log --stat"
git log --stat -5
echo "== diff"
git diff HEAD~15 HEAD --stat
git diff HEAD~3 HEAD -- dir1 | head -n 200
git diff --word-diff HEAD~1 HEAD~2 -- log.txt | head -n 50
echo "== blame"
git blame -s log.txt | head -n 40
echo "== grep"
git grep -c 'commit 3' HEAD
echo "== show"
git show --format=fuller v1 --stat
echo "== gc"
git gc -q --aggressive --prune=now
git count-objects -v | grep -v '^size'
git repack -q -a -d -f --depth=50 --window=20
git fsck --no-progress --full --strict
git rev-list --all --objects | wc -l
git verify-pack -v .git/objects/pack/pack-*.idx | tail -n 3
git ls-tree -r HEAD | git hash-object --stdin
echo "git: done"
