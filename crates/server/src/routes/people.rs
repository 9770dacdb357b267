//! `/api/customers`, `/api/employees`, `/api/suppliers`: create, read, replace, soft delete,
//! list with pagination, and search by `?q=` (name, e-mail or RUT), `?email=` and `?rut=`.
//! The three share one implementation; [`person_routes!`] writes the documented handlers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use bodega_domain::error::{optional_text, required_text};
use bodega_domain::{Email, Page, PageRequest, Rut, ValidationError};
use bodega_store::people::{self, Customer, Employee, Field, Person, PersonFilter, PersonInput, Supplier};
use bodega_store::users;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, OrNotFound};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(customers::list, customers::create))
        .routes(routes!(customers::get, customers::replace, customers::delete))
        .routes(routes!(employees::list, employees::create))
        .routes(routes!(employees::get, employees::replace, employees::delete))
        .routes(routes!(suppliers::list, suppliers::create))
        .routes(routes!(suppliers::get, suppliers::replace, suppliers::delete))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// Substring of the name, e-mail or RUT (case-insensitive; RUT with or without dots).
    pub q: Option<String>,
    /// Exact e-mail address.
    pub email: Option<String>,
    /// Exact RUT, any common format (`12.345.678-5`, `12345678-5`).
    pub rut: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl PersonQuery {
    fn parse(self) -> ApiResult<(PersonFilter, PageRequest)> {
        let page = PageRequest::parse(self.page, self.per_page)?;
        let filter = PersonFilter {
            // Checked like any text: control characters (NUL above all, which PostgreSQL
            // cannot take in a parameter) are refused rather than failing in the database.
            q: optional_text("q", self.q.as_deref().unwrap_or(""), 500)?,
            email: self
                .email
                .filter(|e| !e.trim().is_empty())
                .map(|e| Email::parse("email", &e))
                .transpose()?
                .map(Email::into_inner),
            rut: self
                .rut
                .filter(|r| !r.trim().is_empty())
                .map(|r| Rut::parse("rut", &r))
                .transpose()?
                .map(|r| r.to_string()),
        };
        Ok((filter, page))
    }
}

fn email_field(raw: &Option<String>) -> Result<Field, ValidationError> {
    let email = raw
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse("email", e))
        .transpose()?;
    Ok(Field::Text(email.map(Email::into_inner)))
}

fn rut_field(raw: &Option<String>) -> Result<Field, ValidationError> {
    let rut = raw
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .map(|r| Rut::parse("rut", r))
        .transpose()?;
    Ok(Field::Text(rut.map(|r| r.to_string())))
}

fn text(field: &str, raw: &Option<String>, max: usize) -> Result<Field, ValidationError> {
    Ok(Field::Text(optional_text(field, raw.as_deref().unwrap_or(""), max)?))
}

/// A body validated into the columns it writes.
struct Validated(Vec<(&'static str, Field)>);

impl PersonInput for Validated {
    fn fields(&self) -> Vec<(&'static str, Field)> {
        self.0.clone()
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    /// Chilean RUT; stored as `12345678-5`.
    pub rut: Option<String>,
    pub notes: Option<String>,
}

impl CustomerRequest {
    async fn validate(&self, _state: &AppState) -> ApiResult<Validated> {
        Ok(Validated(vec![
            (
                "first_name",
                Field::Text(Some(required_text("first_name", &self.first_name, 100)?)),
            ),
            (
                "last_name",
                Field::Text(Some(
                    optional_text("last_name", &self.last_name, 100)?.unwrap_or_default(),
                )),
            ),
            ("email", email_field(&self.email)?),
            ("phone", text("phone", &self.phone, 40)?),
            ("address", text("address", &self.address, 300)?),
            ("rut", rut_field(&self.rut)?),
            ("notes", text("notes", &self.notes, 2000)?),
        ]))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmployeeRequest {
    pub employee_code: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub rut: Option<String>,
    pub department: Option<String>,
    pub position: Option<String>,
    /// `YYYY-MM-DD`.
    pub hire_date: Option<NaiveDate>,
    /// Monthly salary in minor currency units (CLP has none: pesos).
    pub salary: Option<i64>,
    /// The employee's sign-in account, if any.
    pub user_id: Option<i64>,
}

impl EmployeeRequest {
    async fn validate(&self, state: &AppState) -> ApiResult<Validated> {
        if self.salary.is_some_and(|s| s < 0) {
            return Err(ApiError::validation("salary", "must not be negative"));
        }
        if let Some(user_id) = self.user_id {
            let mut conn = state.db.read().await?;
            users::get(&mut conn.conn(), user_id)
                .await
                .map_err(|_| ApiError::validation("user_id", format!("no user with id {user_id}")))?;
        }
        Ok(Validated(vec![
            (
                "employee_code",
                Field::Text(Some(required_text("employee_code", &self.employee_code, 40)?)),
            ),
            (
                "first_name",
                Field::Text(Some(required_text("first_name", &self.first_name, 100)?)),
            ),
            (
                "last_name",
                Field::Text(Some(
                    optional_text("last_name", &self.last_name, 100)?.unwrap_or_default(),
                )),
            ),
            ("email", email_field(&self.email)?),
            ("phone", text("phone", &self.phone, 40)?),
            ("rut", rut_field(&self.rut)?),
            ("department", text("department", &self.department, 100)?),
            ("position", text("position", &self.position, 100)?),
            ("hire_date", Field::Date(self.hire_date)),
            ("salary", Field::Int(self.salary)),
            ("user_id", Field::Int(self.user_id)),
        ]))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplierRequest {
    pub name: String,
    pub contact_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub rut: Option<String>,
    /// Days from order to delivery (0–365, default 7).
    pub lead_time_days: Option<i64>,
}

impl SupplierRequest {
    async fn validate(&self, _state: &AppState) -> ApiResult<Validated> {
        let lead_time = self.lead_time_days.unwrap_or(7);
        if !(0..=365).contains(&lead_time) {
            return Err(ApiError::validation("lead_time_days", "must be between 0 and 365"));
        }
        Ok(Validated(vec![
            ("name", Field::Text(Some(required_text("name", &self.name, 200)?))),
            ("contact_name", text("contact_name", &self.contact_name, 100)?),
            ("email", email_field(&self.email)?),
            ("phone", text("phone", &self.phone, 40)?),
            ("address", text("address", &self.address, 300)?),
            ("rut", rut_field(&self.rut)?),
            ("lead_time_days", Field::Int(Some(lead_time))),
        ]))
    }
}

async fn list_people<P: Person>(state: &AppState, query: PersonQuery) -> ApiResult<Page<P>> {
    let (filter, page) = query.parse()?;
    let mut conn = state.db.read().await?;
    Ok(people::list::<P>(&mut conn.conn(), &filter, page).await?)
}

async fn get_person<P: Person>(state: &AppState, id: i64) -> ApiResult<P> {
    let mut conn = state.db.read().await?;
    people::get::<P>(&mut conn.conn(), id).await.or_not_found(P::RESOURCE)
}

async fn create_person<P: Person>(state: &AppState, caller: &Caller, input: Validated) -> ApiResult<P> {
    let mut tx = state.db.begin().await?;
    let created = people::create::<P>(&mut tx.conn(), &caller.actor, &input).await?;
    tx.commit().await?;
    Ok(created)
}

async fn replace_person<P: Person>(state: &AppState, caller: &Caller, id: i64, input: Validated) -> ApiResult<P> {
    let mut tx = state.db.begin().await?;
    let updated = people::replace::<P>(&mut tx.conn(), &caller.actor, id, &input)
        .await
        .or_not_found(P::RESOURCE)?;
    tx.commit().await?;
    Ok(updated)
}

async fn delete_person<P: Person>(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    people::delete::<P>(&mut tx.conn(), &caller.actor, id)
        .await
        .or_not_found(P::RESOURCE)?;
    tx.commit().await?;
    Ok(())
}

/// Writes the five documented handlers of one kind of person.
macro_rules! person_routes {
    ($module:ident, $ty:ty, $request:ty, $resource:literal, $path:literal, $item_path:literal, $tag:literal) => {
        pub mod $module {
            use super::*;

            #[utoipa::path(get, path = $path, tag = $tag, params(PersonQuery),
                responses((status = 200, body = Page<$ty>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
                security(("bearer" = []), ("api_key" = [])))]
            pub async fn list(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<PersonQuery>) -> ApiResult<Json<Page<$ty>>> {
                caller.require($resource, "read")?;
                Ok(Json(list_people::<$ty>(&state, q).await?))
            }

            #[utoipa::path(post, path = $path, tag = $tag, request_body = $request,
                responses((status = 201, body = $ty), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
                security(("bearer" = []), ("api_key" = [])))]
            pub async fn create(State(state): State<AppState>, caller: Caller, ApiJson(req): ApiJson<$request>) -> ApiResult<(StatusCode, Json<$ty>)> {
                caller.require($resource, "create")?;
                let input = req.validate(&state).await?;
                Ok((StatusCode::CREATED, Json(create_person::<$ty>(&state, &caller, input).await?)))
            }

            #[utoipa::path(get, path = $item_path, tag = $tag, params(("id" = i64, Path)),
                responses((status = 200, body = $ty), (status = 404, body = ErrorBody)),
                security(("bearer" = []), ("api_key" = [])))]
            pub async fn get(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<Json<$ty>> {
                caller.require($resource, "read")?;
                Ok(Json(get_person::<$ty>(&state, id).await?))
            }

            /// Replaces every field of the record.
            #[utoipa::path(put, path = $item_path, tag = $tag, params(("id" = i64, Path)), request_body = $request,
                responses((status = 200, body = $ty), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
                security(("bearer" = []), ("api_key" = [])))]
            pub async fn replace(
                State(state): State<AppState>,
                caller: Caller,
                PathId(id): PathId,
                ApiJson(req): ApiJson<$request>,
            ) -> ApiResult<Json<$ty>> {
                caller.require($resource, "update")?;
                let input = req.validate(&state).await?;
                Ok(Json(replace_person::<$ty>(&state, &caller, id, input).await?))
            }

            /// Soft delete: the record leaves listings but stays for history.
            #[utoipa::path(delete, path = $item_path, tag = $tag, params(("id" = i64, Path)),
                responses((status = 204), (status = 404, body = ErrorBody)),
                security(("bearer" = []), ("api_key" = [])))]
            pub async fn delete(State(state): State<AppState>, caller: Caller, PathId(id): PathId) -> ApiResult<StatusCode> {
                caller.require($resource, "delete")?;
                delete_person::<$ty>(&state, &caller, id).await?;
                Ok(StatusCode::NO_CONTENT)
            }
        }
    };
}

person_routes!(
    customers,
    Customer,
    CustomerRequest,
    "customers",
    "/api/customers",
    "/api/customers/{id}",
    "customers"
);
person_routes!(
    employees,
    Employee,
    EmployeeRequest,
    "employees",
    "/api/employees",
    "/api/employees/{id}",
    "employees"
);
person_routes!(
    suppliers,
    Supplier,
    SupplierRequest,
    "suppliers",
    "/api/suppliers",
    "/api/suppliers/{id}",
    "suppliers"
);
