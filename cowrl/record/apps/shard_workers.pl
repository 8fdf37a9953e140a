#!/usr/bin/perl
# Forked workers over disjoint shards of a table loaded by the parent (the shape of a batch
# job that loads its input once and forks one worker per core, each given a range of it:
# Parallel::ForkManager over slices, a nightly billing run). Unlike a pre-fork server, the
# siblings do different work: no row is touched by two of them.
# The parent parses --rows text rows ("id name price qty city") into an array of hash
# references, prints "READY <pid>" and waits for a line on stdin (the recorder registers it
# meanwhile). Then it forks --workers workers, prints "FORK <ns>" (CLOCK_MONOTONIC just
# before the first fork) and "WORKERS <pid>...". Worker i takes rows [i*rows/workers,
# (i+1)*rows/workers) and, for each row of its range in order: computes the line total from
# price and qty (both parsed as strings, so Perl caches the number in each scalar in place:
# a write to a page the parent shared), stores it in the row under a new key (the row's
# hash grows), and rewrites the city in place in upper case (same length: the string's
# buffer is written). It sends its shard's sum over a pipe and exits. The parent prints
# "RESULT <json>" with each worker's time (guest clock).
use strict;
use warnings;
use Getopt::Long;
use POSIX ();
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my %o = (rows => 100000, workers => 4, seed => 0);
GetOptions(\%o, "rows=i", "workers=i", "seed=i") or exit 2;

sub now_ns { return int(clock_gettime(CLOCK_MONOTONIC) * 1e9); }

my @cities = qw(lyon porto turku graz brno gent bergen split cork malmo);
my @rows;
for my $i (0 .. $o{rows} - 1) {
    my $price = sprintf("%.2f", (($i * 7919 + $o{seed}) % 100003) / 97.0);
    my $qty = 1 + ($i * 31) % 17;
    my $line = join(" ", 1000 + $i, sprintf("item%08d", $i), $price, "$qty",
                    $cities[$i % @cities]);
    my ($id, $name, $pr, $q, $city) = split / /, $line;
    push @rows, {id => $id, name => $name, price => $pr, qty => $q, city => $city};
}
$| = 1;
print "READY $$\n";
my $go = <STDIN>;
exit 3 unless defined $go && $go =~ /^go/;

sub work {
    my ($lo, $hi, $wfh) = @_;
    my $t0 = now_ns();
    my $sum = 0;
    for my $k ($lo .. $hi - 1) {
        my $r = $rows[$k];
        my $total = $r->{price} * $r->{qty};
        $r->{total} = $total;
        $r->{city} = uc $r->{city};
        $sum += $total;
    }
    syswrite($wfh, sprintf("%.2f %d\n", $sum, now_ns() - $t0));
}

my @workers;
my $n = scalar @rows;
my $t_fork = now_ns();
for my $w (0 .. $o{workers} - 1) {
    pipe(my $resp_r, my $resp_w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $resp_r;
        work(int($w * $n / $o{workers}), int(($w + 1) * $n / $o{workers}), $resp_w);
        POSIX::_exit(0);
    }
    close $resp_w;
    push @workers, [$pid, $resp_r];
}
print "FORK $t_fork\n";
print "WORKERS ", join(" ", map { $_->[0] } @workers), "\n";
my (@sums, @times);
for my $w (@workers) {
    my $line = readline($w->[1]);
    die "worker $w->[0] died\n" unless defined $line;
    my ($s, $t) = split / /, $line;
    push @sums, $s + 0;
    push @times, $t + 0;
}
my $bad = 0;
for my $w (@workers) {
    waitpid($w->[0], 0);
    $bad++ if $? != 0;
}
my $t_end = now_ns();
printf "RESULT {\"rows\": %d, \"workers\": %d, \"worker_sums\": [%s], "
     . "\"worker_ns\": [%s], \"serve_ns\": %d, \"perl\": \"%vd\", \"failed_workers\": %d}\n",
     $o{rows}, $o{workers}, join(", ", map { sprintf("%.2f", $_) } @sums),
     join(", ", @times), $t_end - $t_fork, $^V, $bad;
exit($bad ? 1 : 0);
