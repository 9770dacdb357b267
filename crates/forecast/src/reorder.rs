//! Reorder advice from a forecast: reorder point = demand forecast over the lead time + safety
//! stock for a service level (cycle service level, normal errors with the sd of the forecast's
//! errors scaled by √lead time), order-up-to level over lead time + review period, and the order
//! quantity rounded to the minimum order quantity and pack size.

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ReorderInput<'a> {
    /// Forecast demand per period, from the next period on (at least lead + review periods; the
    /// last value is repeated when shorter).
    pub forecast: &'a [f64],
    /// Standard deviation of one-period forecast errors (e.g. RMSE of backtest errors).
    pub error_sd: f64,
    /// Supplier lead time in periods (may be fractional).
    pub lead_time: f64,
    /// Periods between reviews (0 for continuous review).
    pub review_period: f64,
    /// Cycle service level, e.g. 0.95.
    pub service_level: f64,
    pub on_hand: f64,
    /// Already ordered, not yet received.
    pub on_order: f64,
    /// Reserved for open orders (subtracted from the position).
    pub reserved: f64,
    pub min_order_qty: f64,
    /// Order multiples (1 = units).
    pub pack_size: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReorderAdvice {
    pub lead_time_demand: f64,
    pub safety_stock: f64,
    pub reorder_point: f64,
    pub order_up_to: f64,
    pub inventory_position: f64,
    /// True when the position is at or below the reorder point.
    pub reorder: bool,
    /// Quantity to order now (0 when no reorder), after MOQ and pack rounding.
    pub order_qty: f64,
}

/// Demand summed over `periods` (fractional periods count pro rata).
fn demand_over(forecast: &[f64], periods: f64) -> f64 {
    let mut total = 0.0;
    let mut left = periods.max(0.0);
    let mut i = 0;
    let last = forecast.last().copied().unwrap_or(0.0);
    while left > 0.0 {
        let v = forecast.get(i).copied().unwrap_or(last).max(0.0);
        let part = left.min(1.0);
        total += v * part;
        left -= part;
        i += 1;
    }
    total
}

pub fn advise(input: &ReorderInput<'_>) -> ReorderAdvice {
    let z = normal_quantile(input.service_level.clamp(0.5, 0.9999));
    let lead_time_demand = demand_over(input.forecast, input.lead_time);
    let protection = input.lead_time + input.review_period;
    let safety_ss = |periods: f64| z * input.error_sd.max(0.0) * periods.max(0.0).sqrt();
    let safety_stock = safety_ss(input.lead_time);
    let reorder_point = lead_time_demand + safety_stock;
    let order_up_to = demand_over(input.forecast, protection) + safety_ss(protection);
    let inventory_position = input.on_hand + input.on_order - input.reserved;
    let reorder = inventory_position <= reorder_point;
    let mut order_qty = 0.0;
    if reorder {
        let mut q = (order_up_to - inventory_position).max(0.0);
        if q > 0.0 {
            q = q.max(input.min_order_qty);
            if input.pack_size > 0.0 {
                q = (q / input.pack_size - 1e-9).ceil() * input.pack_size;
            }
        }
        order_qty = q;
    }
    ReorderAdvice {
        lead_time_demand,
        safety_stock,
        reorder_point,
        order_up_to,
        inventory_position,
        reorder,
        order_qty,
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_point_arithmetic() {
        // 10 a period, lead time 4, review 2, sd 5, 95%: z = 1.6449
        // LTD 40; SS = 1.6449·5·2 = 16.449; ROP 56.449; OUT = 60 + 1.6449·5·√6
        let fc = [10.0; 8];
        let input = ReorderInput {
            forecast: &fc,
            error_sd: 5.0,
            lead_time: 4.0,
            review_period: 2.0,
            service_level: 0.95,
            on_hand: 30.0,
            on_order: 10.0,
            reserved: 5.0,
            min_order_qty: 50.0,
            pack_size: 12.0,
        };
        let a = advise(&input);
        let z = 1.644_853_626_951;
        assert!((normal_quantile(0.95) - z).abs() < 1e-8);
        assert!((a.lead_time_demand - 40.0).abs() < 1e-12);
        assert!((a.safety_stock - z * 10.0).abs() < 1e-6);
        assert!((a.reorder_point - (40.0 + z * 10.0)).abs() < 1e-6);
        let out = 60.0 + z * 5.0 * 6f64.sqrt();
        assert!((a.order_up_to - out).abs() < 1e-6);
        assert!((a.inventory_position - 35.0).abs() < 1e-12);
        assert!(a.reorder);
        // need OUT − 35 ≈ 55.1 → above MOQ 50 → rounded up to packs of 12 → 60
        assert!((a.order_qty - 60.0).abs() < 1e-12, "{a:?}");
        // well stocked: no order
        let b = advise(&ReorderInput {
            on_hand: 500.0,
            ..input.clone()
        });
        assert!(!b.reorder && b.order_qty == 0.0);
        // small need: position 55 ≤ ROP, need ≈ 25 → MOQ 50 → packs of 12 → 60
        let c = advise(&ReorderInput { on_hand: 50.0, ..input });
        assert!(c.reorder && (c.order_qty - 60.0).abs() < 1e-12, "{c:?}");
        // fractional lead time counts pro rata
        assert!((demand_over(&[10.0, 20.0], 1.5) - 20.0).abs() < 1e-12);
    }
}
