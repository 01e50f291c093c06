//! The order a send tries the providers of its channel in: by priority (lower first), and
//! among equal priorities drawn at random in proportion to their weights, so that weights
//! share the traffic.

use rand::Rng;

use crate::snapshot::CompiledProvider;

/// `providers` in the order one send tries them.
pub(super) fn order(mut providers: Vec<&CompiledProvider>) -> Vec<&CompiledProvider> {
    providers.sort_by_key(|p| p.priority);
    let mut out = Vec::with_capacity(providers.len());
    let mut rng = rand::thread_rng();
    let mut rest = providers.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|p| p.priority == first.priority)
            .count();
        let mut group: Vec<&CompiledProvider> = rest[..same].to_vec();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|p| u64::from(p.weight.max(1))).sum();
            let mut pick = rng.gen_range(0..total);
            let mut index = 0;
            for (i, p) in group.iter().enumerate() {
                let w = u64::from(p.weight.max(1));
                if pick < w {
                    index = i;
                    break;
                }
                pick -= w;
            }
            out.push(group.remove(index));
        }
        rest = &rest[same..];
    }
    out
}
