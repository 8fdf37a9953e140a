#!/usr/bin/perl
# A pre-fork server in plain Perl whose children keep per-child session state (the shape of
# a Starman / Apache prefork app with in-process sessions behind a sticky load balancer):
# the parent parses --users text rows ("id name plan credit city") into a hash of hash
# references and --items catalogue rows ("sku price") into an array of hash references, as
# an app loads its tables at start-up, prints "READY <pid>" and waits for a line on stdin
# (the recorder registers it meanwhile). Then it forks --workers children, prints
# "FORK <ns>" (CLOCK_MONOTONIC just before the first fork) and "WORKERS <pid>...", and
# dispatches --requests requests, the i-th to child i mod workers (a new session goes to
# the child the request lands on, and every later request of that session to the same
# child: sticky sessions). A request is
#   LOGIN uid   (--login-share, or when the child has no open session): the child creates a
#               session hash {user (a reference to the shared user row), name, plan,
#               started, last, hits, cart => [], total}, checks the user's credit as a
#               number (parsed as a string: Perl caches the number in the shared scalar)
#               and records the login time in the user's row (a new key: the row grows);
#   LOGOUT sid  (--logout-share): the child totals the session's cart and deletes it;
#   ACT sid sku (otherwise): the child bumps the session's hits and last time, pushes the
#               item on its cart and adds the item's price (a number cached in the shared
#               catalogue row) to its total.
# Users are drawn from a Zipf law (--zipf) over a fixed permutation of the rows, items
# likewise, the same for every child; the session of an ACT or LOGOUT is drawn uniformly
# from the child's open sessions. The parent prints "RESULT <json>" with the request
# latencies (guest clock) and each child's session counts.
use strict;
use warnings;
use Getopt::Long;
use POSIX ();
use Time::HiRes qw(clock_gettime CLOCK_MONOTONIC);

my %o = (users => 100000, items => 5000, workers => 4, requests => 12000,
         "login-share" => 0.25, "logout-share" => 0.08, zipf => 0.9, seed => 0);
GetOptions(\%o, "users=i", "items=i", "workers=i", "requests=i", "login-share=f",
           "logout-share=f", "zipf=f", "seed=i") or exit 2;

sub now_ns { return int(clock_gettime(CLOCK_MONOTONIC) * 1e9); }

# Reproducible pseudo-random numbers without touching Perl's global srand state.
sub lcg { my ($s) = @_; $$s = ($$s * 1103515245 + 12345) % 2147483648; return $$s >> 4; }
sub unif { my ($s) = @_; return lcg($s) / 134217728.0; }

# Zipf draws over 0..n-1 through a fixed permutation (hot rows anywhere in the table).
sub zipf_table {
    my ($n, $e, $s) = @_;
    my @cdf;
    my $acc = 0;
    $acc += 1.0 / ($_ ** $e), push @cdf, $acc for 1 .. $n;
    $_ /= $acc for @cdf;
    my @perm = (0 .. $n - 1);
    for my $i (reverse 1 .. $n - 1) {
        my $j = lcg($s) % ($i + 1);
        @perm[$i, $j] = @perm[$j, $i];
    }
    return [\@cdf, \@perm];
}
sub zipf_draw {
    my ($z, $s) = @_;
    my ($cdf, $perm) = @$z;
    my $u = unif($s);
    my ($lo, $hi) = (0, $#$cdf);
    while ($lo < $hi) {
        my $mid = int(($lo + $hi) / 2);
        if ($cdf->[$mid] < $u) { $lo = $mid + 1 } else { $hi = $mid }
    }
    return $perm->[$lo];
}

my @plans = qw(free basic pro team);
my @cities = qw(Lyon Porto Turku Graz Brno Gent Bergen Split Cork Malmo);
my (%users, @uids, @items);
for my $i (0 .. $o{users} - 1) {
    my $line = join(" ", 5000 + $i, sprintf("user%08d", $i), $plans[$i % @plans],
                    sprintf("%.2f", (($i * 7919 + $o{seed}) % 100003) / 13.0),
                    $cities[$i % @cities]);
    my ($id, $name, $plan, $credit, $city) = split / /, $line;
    $users{$id} = {id => $id, name => $name, plan => $plan, credit => $credit,
                   city => $city};
    push @uids, $id;
}
for my $i (0 .. $o{items} - 1) {
    my ($sku, $price) = split / /, sprintf("sku%06d %.2f", $i, 1 + ($i * 37 % 997) / 10.0);
    push @items, {sku => $sku, price => $price};
}
my $seed = $o{seed} + 1;
my $zu = zipf_table(scalar @uids, $o{zipf}, \$seed);
my $zi = zipf_table(scalar @items, $o{zipf}, \$seed);
$| = 1;
print "READY $$\n";
my $go = <STDIN>;
exit 3 unless defined $go && $go =~ /^go/;

sub serve {
    my ($rfh, $wfh) = @_;
    my %sessions;
    my ($logins, $logouts, $acts, $peak) = (0, 0, 0, 0);
    while (my $line = <$rfh>) {
        chomp $line;
        last if $line eq "quit";
        my ($op, $a1, $a2) = split / /, $line;
        my $t = now_ns();
        my $out;
        if ($op eq "LOGIN") {
            my $u = $users{$a1};
            my $ok = $u->{credit} > 0 ? 1 : 0;
            $u->{last_login} = $t;
            $sessions{$a2} = {user => $u, name => $u->{name}, plan => $u->{plan},
                              started => $t, last => $t, hits => 0, cart => [],
                              total => 0, ok => $ok};
            $logins++;
            my $n = scalar keys %sessions;
            $peak = $n if $n > $peak;
            $out = "OK $a2";
        } elsif ($op eq "LOGOUT") {
            my $s = delete $sessions{$a1};
            $out = sprintf("BYE %s %d %.2f", $s->{name}, scalar @{$s->{cart}}, $s->{total});
            $logouts++;
        } else {
            my $s = $sessions{$a1};
            my $it = $items[$a2];
            $s->{hits}++;
            $s->{last} = $t;
            push @{$s->{cart}}, $it->{sku};
            $s->{total} += $it->{price};
            $out = sprintf("CART %s %d %.2f", $s->{name}, $s->{hits}, $s->{total});
            $acts++;
        }
        syswrite($wfh, "$out\n");
    }
    syswrite($wfh, "$logins $logouts $acts $peak\n");
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
        serve($req_r, $resp_w);
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
my @open = map { [] } @workers;    # each child's open sessions (sticky)
my $next_sid = 1;
my @lat;
for my $i (0 .. $o{requests} - 1) {
    my $w = $i % @workers;
    my ($pid, $wfh, $rfh) = @{$workers[$w]};
    my $open = $open[$w];
    my $u = unif(\$s);
    my $req;
    if (!@$open || $u < $o{"login-share"}) {
        my $sid = sprintf("s%07d", $next_sid++);
        push @$open, $sid;
        $req = "LOGIN $uids[zipf_draw($zu, \$s)] $sid";
    } elsif ($u < $o{"login-share"} + $o{"logout-share"}) {
        my $k = lcg(\$s) % @$open;
        my $sid = $open->[$k];
        $open->[$k] = $open->[-1];
        pop @$open;
        $req = "LOGOUT $sid";
    } else {
        $req = "ACT " . $open->[lcg(\$s) % @$open] . " " . zipf_draw($zi, \$s);
    }
    my $t0 = now_ns();
    print $wfh "$req\n";
    my $resp = <$rfh>;
    die "worker $pid died\n" unless defined $resp;
    push @lat, now_ns() - $t0;
}
print {$_->[1]} "quit\n" for @workers;
my @counts;
for my $w (@workers) {
    my $line = readline($w->[2]);
    die "worker $w->[0] died\n" unless defined $line;
    chomp $line;
    push @counts, "[" . join(", ", split / /, $line) . "]";
}
my $bad = 0;
for my $w (@workers) {
    waitpid($w->[0], 0);
    $bad++ if $? != 0;
}
my $t_end = now_ns();
@lat = sort { $a <=> $b } @lat;
printf "RESULT {\"users\": %d, \"items\": %d, \"workers\": %d, \"requests\": %d, "
     . "\"login_share\": %s, \"logout_share\": %s, \"zipf\": %s, "
     . "\"worker_logins_logouts_acts_peak\": [%s], \"request_p50_ns\": %d, "
     . "\"request_p99_ns\": %d, \"request_max_ns\": %d, \"serve_ns\": %d, "
     . "\"perl\": \"%vd\", \"failed_workers\": %d}\n",
     $o{users}, $o{items}, $o{workers}, $o{requests}, $o{"login-share"},
     $o{"logout-share"}, $o{zipf}, join(", ", @counts), $lat[@lat / 2],
     $lat[int(@lat * 0.99)], $lat[-1], $t_end - $t_fork, $^V, $bad;
exit($bad ? 1 : 0);
