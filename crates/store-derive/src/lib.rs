//! `#[derive(FromRow)]`: builds a struct from a row of either backend, each field from the
//! column of the same name. Written here (rather than sqlx's derive) because Bodega's SQLite
//! backend runs on rusqlite, so rows come from two drivers.

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields};

#[proc_macro_derive(FromRow)]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let Data::Struct(data) = &input.data else {
        return syn::Error::new_spanned(&input.ident, "FromRow derives only for structs")
            .to_compile_error()
            .into();
    };
    let Fields::Named(fields) = &data.fields else {
        return syn::Error::new_spanned(&input.ident, "FromRow needs named fields")
            .to_compile_error()
            .into();
    };
    let assignments = fields.named.iter().enumerate().map(|(position, f)| {
        let ident = f.ident.as_ref().expect("named field");
        let column = ident.to_string();
        let column = column.strip_prefix("r#").unwrap_or(&column).to_string();
        quote! { #ident: row.get_at(#position, #column)? }
    });
    quote! {
        impl #impl_generics ::bodega_store::sql::FromRow for #name #ty_generics #where_clause {
            fn from_row(row: &::bodega_store::sql::Row<'_>) -> ::bodega_store::StoreResult<Self> {
                Ok(Self { #(#assignments),* })
            }
        }
    }
    .into()
}
