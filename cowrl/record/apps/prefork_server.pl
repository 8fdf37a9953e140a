#!/usr/bin/perl
# A pre-fork server in plain Perl (the shape of Starman / Apache prefork with a preloaded
# data set): the parent parses --rows rows of text ("id name score city") into a hash of
# hash references, as an app loads a lookup table at start-up, prints "READY <pid>" and
# waits for a line on stdin (the recorder registers it meanwhile). Then it forks --workers
# workers, prints "FORK <ns>" (CLOCK_MONOTONIC just before the first fork) and
# "WORKERS <pid>...", and dispatches --requests requests round robin over pipes. A worker
# answers a request by reading --scan random rows and using their score as a number; the
# score was parsed as a string, so Perl upgrades each scalar it reads as a number in place
# (caching the number: a write to a page the parent shared, Perl's copy-on-read). At its
# --report-at-th request each worker builds a report, the mean and maximum score over
# every row, as a long-running worker eventually does (a status page, a periodic log
# line): that upgrade reaches every row it had not read yet. The parent prints "RESULT <json>" with the request
# latencies (guest clock).
use strict;
use warnings;
use Getopt::Long;
use POSIX ();
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my %o = (rows => 200000, workers => 4, requests => 2000, scan => 8, "report-at" => 250,
         seed => 0);
GetOptions(\%o, "rows=i", "workers=i", "requests=i", "scan=i", "report-at=i", "seed=i")
    or exit 2;

sub now_ns { return int(clock_gettime(CLOCK_MONOTONIC) * 1e9); }

# Reproducible pseudo-random numbers without touching Perl's global srand state.
sub lcg { my ($s) = @_; $$s = ($$s * 1103515245 + 12345) % 2147483648; return $$s >> 4; }

my @cities = qw(Lyon Porto Turku Graz Brno Gent Bergen Split Cork Malmo);
my %table;
my @ids;
{
    my $seed = $o{seed} + 1;
    for my $i (0 .. $o{rows} - 1) {
        my $score = sprintf("%.3f", (($i * 7919) % 100003) / 97.0);
        my $line = join(" ", 1000 + $i, sprintf("user%08d", $i), $score,
                        $cities[$i % @cities]);
        my ($id, $name, $sc, $city) = split / /, $line;
        $table{$id} = {id => $id, name => $name, score => $sc, city => $city};
        push @ids, $id;
    }
}
$| = 1;
print "READY $$\n";
my $go = <STDIN>;
exit 3 unless defined $go && $go =~ /^go/;

sub serve {
    my ($rfh, $wfh, $seed) = @_;
    my $n = 0;
    my $s = $seed;
    while (my $line = <$rfh>) {
        chomp $line;
        last if $line eq "quit";
        $n++;
        if ($n == $o{"report-at"}) {
            my ($sum, $max) = (0, 0);
            for my $r (values %table) {
                $sum += $r->{score};
                $max = $r->{score} if $r->{score} > $max;
            }
        }
        my $row = $table{$line};
        my $total = $row->{score} * 2;
        my $names = "";
        for (1 .. $o{scan}) {
            my $r = $table{$ids[lcg(\$s) % @ids]};
            $total += $r->{score};
            $names .= $r->{name};
        }
        syswrite($wfh, "$row->{name}:$total:" . length($names) . "\n");
    }
}

my @workers;
my $t_fork = now_ns();
for my $w (0 .. $o{workers} - 1) {
    pipe(my $req_r, my $req_w) or die "pipe: $!";
    pipe(my $resp_r, my $resp_w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $req_w;
        close $resp_r;
        serve($req_r, $resp_w, $o{seed} + $w + 1);
        POSIX::_exit(0);
    }
    close $req_r;
    close $resp_w;
    $req_w->autoflush(1);
    push @workers, [$pid, $req_w, $resp_r];
}
print "FORK $t_fork\n";
print "WORKERS ", join(" ", map { $_->[0] } @workers), "\n";
my $s = $o{seed} + 12345;
my @lat;
for my $i (0 .. $o{requests} - 1) {
    my ($pid, $wfh, $rfh) = @{$workers[$i % @workers]};
    my $t0 = now_ns();
    print $wfh $ids[lcg(\$s) % @ids], "\n";
    my $resp = <$rfh>;
    die "worker $pid died\n" unless defined $resp;
    push @lat, now_ns() - $t0;
}
print {$_->[1]} "quit\n" for @workers;
my $bad = 0;
for my $w (@workers) {
    waitpid($w->[0], 0);
    $bad++ if $? != 0;
}
my $t_end = now_ns();
@lat = sort { $a <=> $b } @lat;
printf "RESULT {\"rows\": %d, \"workers\": %d, \"requests\": %d, \"scan\": %d, "
     . "\"report_at\": %d, \"request_p50_ns\": %d, \"request_p99_ns\": %d, "
     . "\"request_max_ns\": %d, \"serve_ns\": %d, \"perl\": \"%vd\", "
     . "\"failed_workers\": %d}\n",
     $o{rows}, $o{workers}, $o{requests}, $o{scan}, $o{"report-at"}, $lat[@lat / 2],
     $lat[int(@lat * 0.99)], $lat[-1], $t_end - $t_fork, $^V, $bad;
exit($bad ? 1 : 0);
