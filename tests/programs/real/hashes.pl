# Allocation-heavy Perl for the plain-vs-preloaded comparison: hashes,
# arrays, regexes, sort, string building, nested structures.  Fixed seed;
# hash contents are printed in sorted order.
use strict;
use warnings;

srand(4242);
my $digest = 0;
sub out {
    my $line = join(' ', @_);
    $digest = ($digest * 31 + unpack('%32C*', $line)) % 1000000007;
    print "$line\n";
}

my @alpha = ('a' .. 'z');
sub word { join '', map { $alpha[int(rand(26))] } 1 .. (1 + int(rand(10))) }

# Hash of many keys; delete a third; nested values.
my %h;
for my $i (1 .. 120000) {
    my $k = word() . $i % 977;
    $h{$k} = { n => $i, s => "v$i", l => [ $i, $i * 2 ] };
}
my @keys = sort keys %h;
delete @h{ @keys[ grep { $_ % 3 == 0 } 0 .. $#keys ] };
my $sum = 0;
$sum += $h{$_}{n} for keys %h;
out('hash', scalar(keys %h), $sum % 1000003);

# Word counts and sorting by count, then key.
my %count;
my @words = map { word() } 1 .. 100000;
$count{$_}++ for @words;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
out('top', map { "$_=$count{$_}" } @top);
my @sorted = sort { length($a) <=> length($b) || $a cmp $b } @words;
out('sorted', $sorted[0], $sorted[-1], scalar(@sorted));
my @nums = sort { $a <=> $b } map { int(rand(1e9)) } 1 .. 150000;
out('nums', $nums[0], $nums[100000], $nums[-1]);

# Regexes: matching, captures, substitution, split.
my $text = join ' ', map { "$words[$_]:$_" } 0 .. 99999;
my @caps = $text =~ /\b([a-e]\w{2,4}):(\d+)/g;
out('captures', scalar(@caps), @caps[0 .. 3]);
(my $t2 = $text) =~ s/(\w+):(\d+)/$2=\U$1/g;
out('subst', length($t2), substr($t2, 0, 30));
my @f = split /[:\s]+/, $text;
out('split', scalar(@f));
my $n = () = $text =~ /[aeiou]{2}/g;
out('vowel pairs', $n);

# String building and unpack.
my $s = '';
$s .= chr(65 + $_ % 26) x ($_ % 50) for 1 .. 20000;
out('string', length($s), unpack('%32C*', $s));
my $joined = join(',', reverse @nums);
out('joined', length($joined));

# Arrays of arrays, grep/map pipelines, local temporary copies.
my @aoa = map { [ map { $_ * 2 } 1 .. ($_ % 40) ] } 1 .. 20000;
my $cells = 0;
$cells += @$_ for @aoa;
my @big = grep { @$_ > 30 } @aoa;
out('aoa', scalar(@aoa), $cells, scalar(@big));
for my $round (1 .. 5) {
    my %copy = %count;
    delete $copy{$_} for grep { length($_) < 4 } keys %copy;
    my @c = sort keys %copy;
    out('copy', $round, scalar(@c), $c[0]);
}

# sprintf/pack heavy.
my @recs = map { pack('NnA8', $_, $_ % 65536, $words[$_]) } 0 .. 50000;
my $packed = join '', @recs;
out('pack', length($packed), unpack('%32C*', $packed));

out('digest', $digest);
print STDERR "perl: done\n";
