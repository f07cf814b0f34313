//! The filters of `GET /api/orders`: by factory, newest first, paged.

use super::order::MAX_FACTORY_LEN;
use super::page::Paging;
use crate::error::{ApiError, ApiResult, FieldError};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrdersQuery {
    pub factory: Option<String>,
    pub page: Paging,
}

pub fn parse_orders_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> ApiResult<OrdersQuery> {
    let mut query = OrdersQuery::default();
    let mut errors = Vec::new();
    for (key, value) in pairs {
        if let Some(taken) = query.page.accept(key, value) {
            errors.extend(taken.err());
        } else if key == "factory" {
            if value.is_empty() || value.chars().count() > MAX_FACTORY_LEN {
                errors.push(FieldError::new(
                    "factory",
                    format!("must be 1 to {MAX_FACTORY_LEN} characters"),
                ));
            } else {
                query.factory = Some(value.to_owned());
            }
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_queries() {
        let q = parse_orders_query([("factory", "f1"), ("limit", "5"), ("cursor", "9")]).unwrap();
        assert_eq!(q.factory.as_deref(), Some("f1"));
        assert_eq!(q.page.limit, 5);
        assert_eq!(q.page.before_id, Some(9));
        assert!(parse_orders_query([("factory", "")]).is_err());
        assert!(parse_orders_query([("limit", "0")]).is_err());
        assert_eq!(
            parse_orders_query([("other", "x")]).unwrap(),
            OrdersQuery::default()
        );
    }
}
